// Package measure holds what the benchmark and the simulation both need to
// report a measurement: medians, and a description of the machine.
package measure

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Median returns the median of ds (the mean of the middle two for an even
// count), 0 for none.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Machine describes the CPU model, the number of CPUs and the memory, as
// far as /proc tells, for a report: "AMD EPYC, 2 CPUs, 24 GB RAM".
func Machine() []string {
	var parts []string
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				parts = append(parts, strings.TrimSpace(v))
				break
			}
		}
	}
	parts = append(parts, fmt.Sprintf("%d CPUs", runtime.NumCPU()))
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			parts = append(parts, fmt.Sprintf("%d GB RAM", (kb+512*1024)/(1024*1024)))
		}
	}
	return parts
}
