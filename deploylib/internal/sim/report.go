package sim

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/internal/measure"
)

// Targets for the simulation at its largest size (issue 19, Performance
// III, on 2 cores).
const (
	// TargetWallRatio: the wall time at most 3 times the 1-host time.
	TargetWallRatio = 3.0
	// TargetMemoryPerHost: client memory at most 128 KiB per host.
	TargetMemoryPerHost = 128 << 10
	// TargetCPUPerHost: client CPU time at most 1.5 ms per host.
	TargetCPUPerHost = 1500 * time.Microsecond
)

// Median returns the median of each figure of rs, taken separately.
func Median(rs []Result) Result {
	if len(rs) == 0 {
		return Result{}
	}
	med := func(f func(Result) int64) int64 {
		v := make([]int64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return Result{
		Hosts:      rs[0].Hosts,
		Wall:       time.Duration(med(func(r Result) int64 { return int64(r.Wall) })),
		User:       time.Duration(med(func(r Result) int64 { return int64(r.User) })),
		Sys:        time.Duration(med(func(r Result) int64 { return int64(r.Sys) })),
		PeakHeap:   med(func(r Result) int64 { return r.PeakHeap }),
		PeakStacks: med(func(r Result) int64 { return r.PeakStacks }),
		RSSGrowth:  med(func(r Result) int64 { return r.RSSGrowth }),
		Goroutines: int(med(func(r Result) int64 { return int64(r.Goroutines) })),
	}
}

// Write prints the report as Markdown: the machine, the table of medians
// and the targets.
func (rep *Report) Write(w io.Writer) {
	o := rep.Options
	fmt.Fprintf(w, "\nMeasured %s on %s; 1-minute load average %s before the run, %s after.\n\n",
		rep.Started.UTC().Format("2006-01-02 15:04 MST"), machine(), cmp.Or(rep.LoadBefore, "?"), cmp.Or(rep.LoadAfter, "?"))
	delay := o.Delay
	if delay < 0 {
		delay = 0
	}
	fmt.Fprintf(w, "In-process SSH servers (x/crypto/ssh, emulating the commands) in one process, each behind a `deploylib/lab/latency` proxy adding %s each way; "+
		"every deploy runs in a client process of its own (the real deploylib.Start and SSH backend, host keys checked against a generated known_hosts). "+
		"Medians of %d deploys per size; client CPU is the client process's user+system time (rusage), memory per host the larger of its peak Go heap+stacks growth and its peak RSS growth; "+
		"fleet CPU is what the servers' process used meanwhile, on the same cores. "+
		"Open files limit %d. Reproduce: `go tool mage sim` (this run: `SIM_HOSTS=%s SIM_RUNS=%d SIM_DELAY=%s go tool mage sim`, %s in all).\n\n",
		delay, o.Runs, rep.OpenFiles, joinInts(o.Hosts), o.Runs, delay, rep.Elapsed.Round(time.Second))
	fmt.Fprintln(w, "| hosts | wall | vs 1 host | client CPU | client CPU per host | peak heap+stacks per host | peak RSS growth per host | goroutines (peak) | fleet CPU |")
	fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	var base time.Duration
	if rs, ok := rep.Runs[1]; ok {
		base = Median(rs).Wall
	}
	for _, n := range o.Hosts {
		m := Median(rep.Runs[n])
		ratio := "-"
		if base > 0 {
			ratio = fmt.Sprintf("%.2fx", m.Wall.Seconds()/base.Seconds())
		}
		fleet := "-"
		if d := measure.Median(rep.FleetCPU[n]); d > 0 {
			fleet = fmt.Sprintf("%.3f s", d.Seconds())
		}
		fmt.Fprintf(w, "| %d | %.2f s | %s | %.3f s | %.2f ms | %d KiB | %d KiB | %d | %s |\n",
			n, m.Wall.Seconds(), ratio, m.CPU().Seconds(), float64(m.CPUPerHost().Microseconds())/1000,
			(m.PeakHeap+m.PeakStacks)/int64(n)>>10, m.RSSGrowth/int64(n)>>10, m.Goroutines, fleet)
	}
	most := slices.Max(o.Hosts)
	if rs, ok := rep.Runs[most]; ok && base > 0 && most > 1 {
		m := Median(rs)
		ratio := m.Wall.Seconds() / base.Seconds()
		fmt.Fprintf(w, "\nTargets: wall time at %d hosts %.2fx the 1-host time (target at most %.0fx): %s; client CPU %.2f ms per host (target at most %.1f ms): %s; client memory %d KiB per host (target at most %d KiB): %s.\n",
			most, ratio, TargetWallRatio, verdict(ratio <= TargetWallRatio),
			float64(m.CPUPerHost().Microseconds())/1000, float64(TargetCPUPerHost.Microseconds())/1000, verdict(m.CPUPerHost() <= TargetCPUPerHost),
			m.MemoryPerHost()>>10, TargetMemoryPerHost>>10, verdict(m.MemoryPerHost() <= TargetMemoryPerHost))
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}

// machine describes the CPU, memory, OS and Go version, as far as known.
func machine() string {
	parts := measure.Machine()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		parts = append(parts, runtime.GOOS+" "+strings.TrimSpace(string(b)))
	} else {
		parts = append(parts, runtime.GOOS)
	}
	parts = append(parts, runtime.Version())
	return strings.Join(parts, ", ")
}
