//go:build !unix

package sim

import "time"

// cpuTimes is not measured here: 0.
func cpuTimes() (user, sys time.Duration) { return 0, 0 }

// maxRSS is not measured here: 0.
func maxRSS() int64 { return 0 }

// RaiseOpenFiles does nothing here.
func RaiseOpenFiles() (uint64, error) { return 0, nil }
