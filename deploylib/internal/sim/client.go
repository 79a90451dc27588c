package sim

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"time"

	"github.com/capstan-deploy/capstan/deploylib"
)

// ClientOptions says what [Deploy] deploys to.
type ClientOptions struct {
	// Dir is a fleet's directory (see [StartFleet]).
	Dir string
	// Hosts is how many of the fleet's hosts to deploy to, the first ones.
	Hosts int
	// Out receives the console output; nil discards it. The log file is
	// written in Dir either way, as a team's run writes log/deploy.log.
	Out io.Writer
}

// Result is what one simulated deploy cost the client.
type Result struct {
	Hosts int           `json:"hosts"`
	Wall  time.Duration `json:"wall"`
	// User and Sys are the CPU time of the whole process during the
	// deploy (rusage deltas).
	User time.Duration `json:"user"`
	Sys  time.Duration `json:"sys"`
	// PeakHeap is the highest heap in use (live and not yet collected
	// objects) during the deploy, above what was in use before it;
	// PeakStacks the same for goroutine stacks. They are sampled every
	// millisecond.
	PeakHeap   int64 `json:"peak_heap"`
	PeakStacks int64 `json:"peak_stacks"`
	// RSSGrowth is how much the process's peak resident set size grew
	// during the deploy (0 where rusage does not report it).
	RSSGrowth int64 `json:"rss_growth"`
	// Goroutines is the most goroutines seen at once.
	Goroutines int `json:"goroutines"`
}

// CPU returns the user plus system CPU time.
func (r Result) CPU() time.Duration { return r.User + r.Sys }

// MemoryPerHost returns the larger of the peak Go memory (heap and
// stacks) and the RSS growth, divided by the number of hosts.
func (r Result) MemoryPerHost() int64 {
	return max(r.PeakHeap+r.PeakStacks, r.RSSGrowth) / int64(max(r.Hosts, 1))
}

// CPUPerHost returns the CPU time divided by the number of hosts.
func (r Result) CPUPerHost() time.Duration { return r.CPU() / time.Duration(max(r.Hosts, 1)) }

// Stage returns the stage of the first n hosts of the fleet in dir: login
// with the fleet's key, host keys checked against its known_hosts file
// alone, no SSH config file.
func Stage(dir string, n int) (deploylib.Stage, error) {
	b, err := os.ReadFile(filepath.Join(dir, HostsFile))
	if err != nil {
		return deploylib.Stage{}, err
	}
	addrs := strings.Fields(string(b))
	if n < 1 || n > len(addrs) {
		return deploylib.Stage{}, fmt.Errorf("sim: the fleet in %s has %d hosts, asked for %d", dir, len(addrs), n)
	}
	st := deploylib.Stage{
		Name: "sim",
		SSH: deploylib.SSHOptions{
			KnownHostsFile: filepath.Join(dir, KnownHostsFile),
			KnownHostsOnly: true,
			IdentityFiles:  []string{filepath.Join(dir, IdentityFile)},
			ConfigFile:     "none",
		},
	}
	for _, a := range addrs[:n] {
		st.Servers = append(st.Servers, deploylib.Server{Host: User + "@" + a, Roles: []string{"app", "web"}})
	}
	return st, nil
}

// Config is the configuration the simulation deploys with: the
// benchmark's settings (1 linked file, 2 linked dirs, keep_releases 5)
// and the git strategy, fetching on every host at once
// (Git.MaxConcurrent, which protects the git server, is set to the number
// of hosts: the simulation measures the client).
func Config(hosts int) deploylib.Config {
	return deploylib.Config{
		Application:  "sim",
		RepoURL:      "https://git.example.com/sim.git",
		DeployTo:     "/srv/sim",
		KeepReleases: 5,
		LinkedFiles:  []string{"config/secrets.yml"},
		LinkedDirs:   []string{"log", "tmp/pids"},
		Strategy:     deploylib.Git{MaxConcurrent: hosts},
	}
}

// Deploy runs the standard deploy to the first o.Hosts hosts of a fleet
// and measures it. The SSH agent is not used (SSH_AUTH_SOCK should be
// unset), and the configuration set with deploylib.Configure is replaced
// by [Config].
func Deploy(ctx context.Context, o ClientOptions) (Result, error) {
	st, err := Stage(o.Dir, o.Hosts)
	if err != nil {
		return Result{}, err
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	deploylib.Configure(Config(o.Hosts))
	runtime.GC()
	s := startSampler()
	u0, s0 := cpuTimes()
	rss0 := maxRSS()
	start := time.Now()
	err = deploylib.Start(ctx, deploylib.Deploy, deploylib.WithStage(st), deploylib.WithOutput(out),
		deploylib.WithColor(false), deploylib.WithLogFile(filepath.Join(o.Dir, "deploy.log")))
	wall := time.Since(start)
	u1, s1 := cpuTimes()
	rss1 := maxRSS()
	heap, stacks, gs := s.stop()
	if err != nil {
		return Result{}, fmt.Errorf("sim: deploy to %d hosts: %w", o.Hosts, err)
	}
	return Result{
		Hosts: o.Hosts, Wall: wall, User: u1 - u0, Sys: s1 - s0,
		PeakHeap: heap, PeakStacks: stacks, RSSGrowth: rss1 - rss0, Goroutines: gs,
	}, nil
}

// sampler records the peaks of heap, stacks and goroutines.
type sampler struct {
	done           chan struct{}
	wg             sync.WaitGroup
	base           [2]uint64
	peak           [2]uint64
	peakGoroutines uint64
	samples        []metrics.Sample
}

func startSampler() *sampler {
	s := &sampler{done: make(chan struct{}), samples: []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/sched/goroutines:goroutines"},
	}}
	s.read()
	s.base = s.peak
	s.wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				s.read()
			}
		}
	})
	return s
}

func (s *sampler) read() {
	metrics.Read(s.samples)
	for i := range 2 {
		if s.samples[i].Value.Kind() == metrics.KindUint64 {
			s.peak[i] = max(s.peak[i], s.samples[i].Value.Uint64())
		}
	}
	if s.samples[2].Value.Kind() == metrics.KindUint64 {
		s.peakGoroutines = max(s.peakGoroutines, s.samples[2].Value.Uint64())
	}
}

// stop ends the sampling and returns the peaks above the start.
func (s *sampler) stop() (heap, stacks int64, goroutines int) {
	close(s.done)
	s.wg.Wait()
	s.read()
	return int64(s.peak[0] - s.base[0]), int64(s.peak[1] - s.base[1]), int(s.peakGoroutines)
}
