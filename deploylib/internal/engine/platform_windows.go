//go:build windows

package engine

import (
	"errors"
	"syscall"
)

// processAlive reports whether a process with this id runs on this
// machine: it can be opened (or exists and belongs to someone else) and
// has not exited.
func processAlive(pid int) bool {
	const (
		queryLimitedInformation = 0x1000 // PROCESS_QUERY_LIMITED_INFORMATION
		stillActive             = 259    // STILL_ACTIVE
	)
	h, err := syscall.OpenProcess(queryLimitedInformation, false, uint32(pid))
	if err != nil {
		return errors.Is(err, syscall.ERROR_ACCESS_DENIED)
	}
	defer syscall.CloseHandle(h)
	var code uint32
	if err := syscall.GetExitCodeProcess(h, &code); err != nil {
		return true
	}
	return code == stillActive
}
