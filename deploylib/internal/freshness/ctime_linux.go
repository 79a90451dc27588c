//go:build linux

package freshness

import (
	"os"
	"syscall"
	"time"
)

// changedAt is when fi's file last changed: the later of its modification
// time and its inode change time. The change time cannot be set back (touch
// -d, cp -p and tar set the modification time only), so a file replaced by
// an older-looking copy still counts as changed.
func changedAt(fi os.FileInfo) time.Time {
	t := fi.ModTime()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if c := time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec)); c.After(t) {
			t = c
		}
	}
	return t
}
