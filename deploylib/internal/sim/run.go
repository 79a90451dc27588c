package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options are the settings of [Run].
type Options struct {
	// Hosts are the fleet sizes to deploy to. Default 1, 10, 100, 1000.
	Hosts []int
	// Runs is how many deploys are measured per size (the median is
	// reported). Default 3.
	Runs int
	// Delay is the one-way delay of every host's link. Default 25ms (a
	// 50 ms round trip); negative means none.
	Delay time.Duration
	// Command is the simulation's command (cmd/capstan-sim), run as the
	// fleet's process ("serve") and as each deploy's ("client").
	Command string
	// Progress receives a line per deploy; nil means none.
	Progress io.Writer
}

// FromEnv returns the options of SIM_HOSTS=1,10,100,1000, SIM_RUNS=3 and
// SIM_DELAY=25ms (one way).
func FromEnv() (Options, error) {
	o := Options{Hosts: []int{1, 10, 100, 1000}, Runs: 3, Delay: 25 * time.Millisecond, Progress: os.Stdout}
	if v := os.Getenv("SIM_HOSTS"); v != "" {
		o.Hosts = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 || n > 5000 {
				return o, fmt.Errorf("SIM_HOSTS=%s: want host counts from 1 to 5000, comma-separated", v)
			}
			o.Hosts = append(o.Hosts, n)
		}
	}
	if v := os.Getenv("SIM_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return o, fmt.Errorf("SIM_RUNS=%s: want a positive number", v)
		}
		o.Runs = n
	}
	if v := os.Getenv("SIM_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return o, fmt.Errorf("SIM_DELAY=%s: want a one-way delay such as 25ms (0 for none)", v)
		}
		o.Delay = d
		if d == 0 {
			o.Delay = -1
		}
	}
	return o, nil
}

// Report is the outcome of [Run].
type Report struct {
	Options Options
	Started time.Time
	Elapsed time.Duration
	// LoadBefore and LoadAfter are the 1-minute load averages ("" where
	// unknown).
	LoadBefore, LoadAfter string
	// OpenFiles is the open files limit the processes ran with.
	OpenFiles uint64
	// Runs holds every measured deploy of each size, in order.
	Runs map[int][]Result
	// FleetCPU holds, per deploy of Runs, the CPU time the fleet's
	// process used meanwhile (its servers and latency proxies share the
	// machine with the client); 0 where unknown.
	FleetCPU map[int][]time.Duration
}

// Run starts a fleet of the largest size in a child process, then
// measures o.Runs deploys of each size, each in a client process of its
// own, and returns the figures.
func Run(ctx context.Context, o Options) (*Report, error) {
	if len(o.Hosts) == 0 || o.Runs < 1 || o.Command == "" {
		return nil, errors.New("sim: Options need Hosts, Runs and Command")
	}
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	limit, err := RaiseOpenFiles()
	if err != nil {
		return nil, fmt.Errorf("sim: raising the open files limit: %w", err)
	}
	rep := &Report{Options: o, Started: time.Now(), LoadBefore: loadAverage(), OpenFiles: limit, Runs: map[int][]Result{}, FleetCPU: map[int][]time.Duration{}}
	dir, err := os.MkdirTemp("", "capstan-sim-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	most := slices.Max(o.Hosts)
	fmt.Fprintf(progress, "starting %d SSH servers behind %s latency proxies (open files limit %d)\n", most, o.Delay, limit)
	fleet := exec.CommandContext(ctx, o.Command, "serve", "-hosts", strconv.Itoa(most), "-delay", o.Delay.String(), "-dir", dir)
	fleet.Stderr = os.Stderr
	stdin, err := fleet.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := fleet.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := fleet.Start(); err != nil {
		return nil, fmt.Errorf("sim: starting the fleet: %w", err)
	}
	defer func() {
		stdin.Close() // the fleet stops when its standard input ends
		fleet.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		return nil, fmt.Errorf("sim: the fleet did not start (%q, %v)", line, err)
	}

	for _, n := range o.Hosts {
		for i := range o.Runs {
			before := processCPU(fleet.Process.Pid)
			res, err := runClient(ctx, o.Command, dir, n)
			if err != nil {
				return nil, err
			}
			fleetCPU := processCPU(fleet.Process.Pid) - before
			rep.Runs[n] = append(rep.Runs[n], res)
			rep.FleetCPU[n] = append(rep.FleetCPU[n], fleetCPU)
			fmt.Fprintf(progress, "  %4d host(s), run %d/%d: %7.3f s wall, %6.3f s client CPU, %4d KiB per host; fleet CPU %6.3f s; load %s\n",
				n, i+1, o.Runs, res.Wall.Seconds(), res.CPU().Seconds(), res.MemoryPerHost()>>10, fleetCPU.Seconds(), loadAverage())
		}
	}
	rep.Elapsed = time.Since(rep.Started)
	rep.LoadAfter = loadAverage()
	return rep, nil
}

// runClient measures one deploy in a client process of its own.
func runClient(ctx context.Context, command, dir string, n int) (Result, error) {
	cmd := exec.CommandContext(ctx, command, "client", "-hosts", strconv.Itoa(n), "-dir", dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Result{}, fmt.Errorf("sim: client for %d hosts: %w\n%s", n, err, stderr.String())
	}
	var res Result
	if err := json.Unmarshal(out, &res); err != nil {
		return Result{}, fmt.Errorf("sim: client for %d hosts printed %q: %w", n, out, err)
	}
	return res, nil
}

// processCPU returns the user plus system CPU time of process pid so far,
// from /proc (0 where there is none).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses:
	// state is field 3, utime 14 and stime 15, in clock ticks (100 Hz).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// loadAverage returns the 1-minute load average, "" where unknown.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return ""
}
