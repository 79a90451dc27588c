//go:build windows

package deploylib

import "os"

// processExists reports whether a process with this pid exists on this
// machine.
func processExists(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}
