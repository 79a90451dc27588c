//go:build !linux && !darwin

package freshness

import (
	"os"
	"time"
)

// changedAt is when fi's file last changed: its modification time (this
// system's inode change time is not read; see ctime_linux.go).
func changedAt(fi os.FileInfo) time.Time { return fi.ModTime() }
