package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/internal/measure"
)

// span formats the range of ns: "12", or "12-13" when they differ.
func span(ns []int) string {
	if len(ns) == 0 {
		return "-"
	}
	lo, hi := slices.Min(ns), slices.Max(ns)
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}

// Wall returns the median wall time of the timed runs.
func (t *ToolResult) Wall() time.Duration {
	var ds []time.Duration
	for _, s := range t.Samples {
		ds = append(ds, s.Wall)
	}
	return measure.Median(ds)
}

// CPU returns the median client CPU time of the timed runs.
func (t *ToolResult) CPU() time.Duration {
	var ds []time.Duration
	for _, s := range t.Samples {
		ds = append(ds, s.CPU)
	}
	return measure.Median(ds)
}

// ServerCPUPerHost returns the median CPU time a deploy cost the hosts,
// divided by their number; 0 when it was not measured.
func (t *ToolResult) ServerCPUPerHost() time.Duration {
	var ds []time.Duration
	for _, s := range t.Samples {
		if s.ServerCPU <= 0 || len(s.PerHost) == 0 {
			return 0
		}
		ds = append(ds, s.ServerCPU/time.Duration(len(s.PerHost)))
	}
	return measure.Median(ds)
}

func (hr *HostsResult) tool(name string) *ToolResult {
	for _, t := range hr.Tools {
		if t.Tool == name && t.Err == nil && len(t.Samples) > 0 {
			return t
		}
	}
	return nil
}

func secs(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.3f s", d.Seconds())
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func hostsWord(n int) string {
	if n == 1 {
		return "1 host"
	}
	return fmt.Sprintf("%d hosts", n)
}

// Markdown renders the report as docs/performance.md shows it.
func (r *Report) Markdown() string {
	o := r.Options
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	rtt := 2 * o.oneWay()
	w("Measured %s on %s; 1-minute load average %.1f before the run, %.1f after.", r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Machine, r.LoadBefore, r.LoadAfter)
	w("")
	link := fmt.Sprintf("each behind a proxy (`deploylib/lab/latency`) adding %v each way (%v round trip)", o.oneWay(), rtt)
	if rtt == 0 {
		link = "each behind a proxy (`deploylib/lab/latency`) adding no latency"
	}
	w("Real sshd hosts on 127.0.0.1, %s. "+
		"Every tool deploys the same git repository to every host with the same settings (%d linked file, %d linked dirs, keep_releases %d): "+
		"every host already has each tool's mirror of the repository and linked files, as on any deploy but the first; "+
		"every tool runs the same three hooks, as teams hang them (%s; %s; %s); the floor and Capstan (its declarative RemoteTask hooks) inside their scripts; "+
		"after one untimed warm-up deploy per tool, the tools alternate. "+
		"Times are medians; client CPU is the user and system time of the client's whole process tree; "+
		"server CPU is the CPU time of every process the deploy ran on the hosts (sshd's connection processes and all they started, counted by a cgroup holding the hosts' sshd), divided by the hosts. "+
		"SSH sessions and connections per host are counted in each sshd's log; remote commands are those sessions, "+
		"except for Capstan, whose log file records every command it sends (they differ when commands share a session).",
		link, len(linkedFiles), len(linkedDirs), keepReleases, hookCheck, hookUpdated, hookRestart)
	w("")
	cmd := fmt.Sprintf("BENCH_HOSTS=%s", joinInts(o.Hosts))
	if o.Runs > 0 {
		cmd += fmt.Sprintf(" BENCH_RUNS=%d", o.Runs)
	}
	cmd += fmt.Sprintf(" BENCH_DELAY=%v", o.oneWay())
	if len(o.Tools) != 3 {
		cmd += " BENCH_TOOLS=" + strings.Join(o.Tools, ",")
	}
	if o.ColdCompile {
		cmd += " BENCH_COLD=1"
	}
	w("Reproduce: `go tool mage bench` (this run: `%s go tool mage bench`, %s in all).", cmd, r.Took.Round(time.Second))
	if r.CompileWarm > 0 {
		w("")
		line := fmt.Sprintf("Capstan's timed runs use the team project's mage binary, compiled once with `go tool mage -compile`: "+
			"%s the first time (Go build cache as found), %s again (warm cache, as after editing a magefile)",
			secs(r.CompileFirst), secs(r.CompileWarm))
		if r.CompileCold > 0 {
			line += fmt.Sprintf(", %s with an empty Go build cache (a fresh machine)", secs(r.CompileCold))
		}
		w("%s.", line)
	}
	if r.CapistranoMissing != "" {
		w("")
		w("Capistrano was not measured: %s.", r.CapistranoMissing)
	}
	for _, hr := range r.Results {
		w("")
		deploys := "deploys"
		if hr.Runs == 1 {
			deploys = "deploy"
		}
		w("### %s (%d %s per tool)", hostsWord(hr.Hosts), hr.Runs, deploys)
		w("")
		if hr.Err != nil {
			w("Not measured: %s", firstLine(hr.Err.Error()))
			continue
		}
		floor := hr.tool(ToolFloor)
		w("| tool | wall | vs floor | client CPU | server CPU per host | remote commands per host | SSH sessions per host | SSH connections per host |")
		w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, t := range hr.Tools {
			if t.Err != nil && len(t.Samples) == 0 {
				w("| %s | failed: %s | | | | | | |", t.Label, strings.ReplaceAll(firstLine(t.Err.Error()), "|", "\\|"))
				continue
			}
			vs := "-"
			if floor != nil {
				vs = fmt.Sprintf("%.2fx", ratio(t.Wall(), floor.Wall()))
			}
			cmds, sess, conns := counts(t.Samples)
			server := "-"
			if d := t.ServerCPUPerHost(); d > 0 {
				server = secs(d)
			}
			w("| %s | %s | %s | %s | %s | %s | %s | %s |", t.Label, secs(t.Wall()), vs, secs(t.CPU()), server, cmds, sess, conns)
		}
		var notes []string
		capstan, capistrano := hr.tool(ToolCapstan), hr.tool(ToolCapistrano)
		if capstan != nil && capistrano != nil {
			notes = append(notes, fmt.Sprintf("Capistrano takes %.1fx Capstan's wall time and %.1fx its client CPU.",
				ratio(capistrano.Wall(), capstan.Wall()), ratio(capistrano.CPU(), capstan.CPU())))
		}
		if hr.GoToolMage != nil {
			notes = append(notes, fmt.Sprintf("The same deploy through `go tool mage bench deploy` instead of the compiled binary "+
				"(mage regenerates and relinks the binary first; one run): %s, client CPU %s.", secs(hr.GoToolMage.Wall), secs(hr.GoToolMage.CPU)))
		}
		for _, t := range hr.Tools {
			if t.Err != nil && len(t.Samples) > 0 {
				notes = append(notes, fmt.Sprintf("%s failed after %d runs: %s", t.Label, len(t.Samples), firstLine(t.Err.Error())))
			}
		}
		if len(notes) > 0 {
			w("")
			w("%s", strings.Join(notes, " "))
		}
	}
	if t := r.targets(); t != "" {
		w("")
		w("### Targets (DESIGN.md section 6)")
		w("")
		b.WriteString(t)
	}
	return b.String()
}

// targets renders the targets against the measured figures, for
// the host counts and tools that were measured.
func (r *Report) targets() string {
	var b strings.Builder
	row := func(target string, got float64, unit string, ok bool) {
		verdict := "met"
		if !ok {
			verdict = "**missed**"
		}
		fmt.Fprintf(&b, "| %s | %.2f%s | %s |\n", target, got, unit, verdict)
	}
	for _, hr := range r.Results {
		capstan, capistrano, floor := hr.tool(ToolCapstan), hr.tool(ToolCapistrano), hr.tool(ToolFloor)
		if capstan == nil {
			continue
		}
		switch hr.Hosts {
		case 3:
			if floor != nil {
				x := ratio(capstan.Wall(), floor.Wall())
				row("3 hosts: Capstan within 1.5x of the floor", x, "x", x <= 1.5)
			}
			if capistrano != nil {
				x := ratio(capistrano.Wall(), capstan.Wall())
				row("3 hosts: Capstan at least 6x faster than Capistrano", x, "x", x >= 6)
			}
		case 20:
			if floor != nil {
				x := ratio(capstan.Wall(), floor.Wall())
				row("20 hosts: Capstan within 1.3x of the floor", x, "x", x <= 1.3)
			}
			if capistrano != nil {
				x := ratio(capstan.CPU(), capistrano.CPU())
				row("20 hosts: Capstan's client CPU at most 0.10 of Capistrano's", x, "", x <= 0.1)
			}
		}
	}
	if b.Len() == 0 {
		return ""
	}
	head := "| target | measured | |\n| --- | ---: | --- |\n"
	if r.Options.oneWay() != 25*time.Millisecond {
		head = fmt.Sprintf("The targets are set for a 50 ms round trip; this run used %v.\n\n", 2*r.Options.oneWay()) + head
	}
	return head + b.String()
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}
