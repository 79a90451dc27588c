package bench

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Tool names, as BENCH_TOOLS spells them.
const (
	ToolCapstan    = "capstan"
	ToolCapistrano = "capistrano"
	ToolFloor      = "floor"
)

// Options configure a benchmark run. The zero value of every field has a
// default; FromEnv reads them from BENCH_* variables.
type Options struct {
	// Hosts are the host counts to measure, one lab each. Default 1, 3, 20.
	Hosts []int
	// Runs is how many timed deploys each tool makes per host count.
	// Default 5, and 3 for more than 10 hosts (a 2-core machine runs the
	// whole benchmark in about six minutes).
	Runs int
	// Delay is the one-way delay the proxy adds in each direction: 0
	// means 25 ms (a 50 ms round trip), a negative value none.
	Delay time.Duration
	// Tools are the tools to measure, among capstan, capistrano and floor.
	// Default all three.
	Tools []string
	// Out is where the results file and the logs of every run go; default
	// a new directory under the system's temporary directory.
	Out string
	// NoInstall stops the benchmark from installing Capistrano with
	// apt-get when cap is missing.
	NoInstall bool
	// ColdCompile also compiles the benchmark's team project with an empty
	// Go build cache, as a fresh machine would (about a minute on two
	// cores). Off by default; BENCH_COLD=1 turns it on.
	ColdCompile bool
	// Keep keeps the generated projects, the compiled binary and the
	// scripts in <Out>/work (BENCH_KEEP=1).
	Keep bool
	// RepoRoot is the checkout of github.com/capstan-deploy/capstan whose
	// deploylib the team project uses; default the module around the
	// working directory.
	RepoRoot string
	// Progress receives progress lines; default os.Stdout.
	Progress io.Writer
}

// FromEnv returns the options set by the environment:
//
//	BENCH_HOSTS=1,3,20  BENCH_RUNS=5  BENCH_DELAY=25ms (one way)
//	BENCH_TOOLS=capstan,capistrano,floor  BENCH_OUT=dir
//	BENCH_NO_INSTALL=1  BENCH_COLD=1  BENCH_KEEP=1
func FromEnv() (Options, error) {
	var o Options
	if v := os.Getenv("BENCH_HOSTS"); v != "" {
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 || n > 100 {
				return o, fmt.Errorf("BENCH_HOSTS=%s: want host counts from 1 to 100, comma-separated", v)
			}
			o.Hosts = append(o.Hosts, n)
		}
	}
	if v := os.Getenv("BENCH_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return o, fmt.Errorf("BENCH_RUNS=%s: want a positive number", v)
		}
		o.Runs = n
	}
	if v := os.Getenv("BENCH_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return o, fmt.Errorf("BENCH_DELAY=%s: want a one-way delay such as 25ms (0 for none)", v)
		}
		o.Delay = d
		if d == 0 {
			o.Delay = -1 // no delay, as opposed to the default
		}
	}
	if v := os.Getenv("BENCH_TOOLS"); v != "" {
		for _, f := range strings.Split(v, ",") {
			o.Tools = append(o.Tools, strings.TrimSpace(f))
		}
	}
	o.Out = os.Getenv("BENCH_OUT")
	o.NoInstall = os.Getenv("BENCH_NO_INSTALL") == "1"
	o.Keep = os.Getenv("BENCH_KEEP") == "1"
	o.ColdCompile = os.Getenv("BENCH_COLD") == "1"
	return o, o.withDefaults().validate()
}

func (o Options) withDefaults() Options {
	if len(o.Hosts) == 0 {
		o.Hosts = []int{1, 3, 20}
	}
	if o.Delay == 0 {
		o.Delay = 25 * time.Millisecond
	}
	if len(o.Tools) == 0 {
		o.Tools = []string{ToolCapstan, ToolCapistrano, ToolFloor}
	}
	if o.Progress == nil {
		o.Progress = os.Stdout
	}
	return o
}

func (o Options) validate() error {
	for _, t := range o.Tools {
		if !slices.Contains([]string{ToolCapstan, ToolCapistrano, ToolFloor}, t) {
			return fmt.Errorf("BENCH_TOOLS: unknown tool %q (want capstan, capistrano, floor)", t)
		}
	}
	return nil
}

func (o Options) has(tool string) bool { return slices.Contains(o.Tools, tool) }

// runsFor returns the number of timed deploys per tool for n hosts.
func (o Options) runsFor(n int) int {
	switch {
	case o.Runs > 0:
		return o.Runs
	case n > 10:
		return 3
	}
	return 5
}

// oneWay returns the delay actually added.
func (o Options) oneWay() time.Duration { return max(o.Delay, 0) }
