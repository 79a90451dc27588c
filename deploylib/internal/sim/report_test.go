package sim

import (
	"strings"
	"testing"
	"time"
)

// TestReportTargets checks the targets line of the report against the
// targets of issue 19: wall at most 3 times the 1-host time, client CPU
// at most 1.5 ms and memory at most 128 KiB per host.
func TestReportTargets(t *testing.T) {
	tests := []struct {
		name      string
		wall, cpu time.Duration
		memory    int64
		want      []string
	}{
		{"all met", 2900 * time.Millisecond, 1400 * time.Millisecond, 120 << 20,
			[]string{"2.90x the 1-host time (target at most 3x): met", "1.40 ms per host (target at most 1.5 ms): met", "122 KiB per host (target at most 128 KiB): met"}},
		{"all missed", 3100 * time.Millisecond, 1600 * time.Millisecond, 140 << 20,
			[]string{"3.10x the 1-host time (target at most 3x): **missed**", "1.60 ms per host (target at most 1.5 ms): **missed**", "143 KiB per host (target at most 128 KiB): **missed**"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := &Report{
				Options: Options{Hosts: []int{1, 1000}, Runs: 1},
				Runs: map[int][]Result{
					1:    {{Hosts: 1, Wall: time.Second, User: 30 * time.Millisecond}},
					1000: {{Hosts: 1000, Wall: tt.wall, User: tt.cpu, RSSGrowth: tt.memory}},
				},
			}
			var b strings.Builder
			rep.Write(&b)
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("the report lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}
