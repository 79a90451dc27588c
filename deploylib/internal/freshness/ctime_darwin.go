//go:build darwin

package freshness

import (
	"os"
	"syscall"
	"time"
)

// changedAt is when fi's file last changed: the later of its modification
// time and its inode change time (see ctime_linux.go).
func changedAt(fi os.FileInfo) time.Time {
	t := fi.ModTime()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if c := time.Unix(int64(st.Ctimespec.Sec), int64(st.Ctimespec.Nsec)); c.After(t) {
			t = c
		}
	}
	return t
}
