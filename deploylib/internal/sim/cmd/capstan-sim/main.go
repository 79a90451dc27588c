// Command capstan-sim runs the simulation of package sim with the settings
// of its SIM_* environment variables (SIM_HOSTS=1,10,100,1000 SIM_RUNS=3
// SIM_DELAY=25ms) and prints its table. The repository's mage target runs
// it: go tool mage sim.
//
// It runs itself twice more: "capstan-sim serve -hosts N -delay D -dir
// DIR" is the fleet's process, which serves until its standard input
// ends, and "capstan-sim client -hosts N -dir DIR" deploys to the first N
// hosts of that fleet and prints what it cost as JSON.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/internal/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		o, err := sim.FromEnv()
		if err != nil {
			return err
		}
		if o.Command, err = os.Executable(); err != nil {
			return err
		}
		rep, err := sim.Run(ctx, o)
		if err != nil {
			return err
		}
		rep.Write(os.Stdout)
		return nil
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	hosts := fs.Int("hosts", 1, "number of hosts")
	delay := fs.Duration("delay", 25*time.Millisecond, "one-way delay")
	dir := fs.String("dir", "", "the fleet's directory")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the deploy (client) or of serving until the end (serve) to this file")
	memProfile := fs.String("memprofile", "", "client: write a heap profile to this file, at the end of the deploy or after -memprofile-after")
	memAfter := fs.Duration("memprofile-after", 0, "client: when the heap profile (and a goroutine profile, in the same file name with .goroutines) is taken, after the deploy started (0: at the end, heap only)")
	memTrace := fs.Duration("memtrace", 0, "client: print the heap in use, the goroutine stacks, the goroutines and the initial stack size to standard error at this interval")
	memGoroutines := fs.Int("memprofile-goroutines", 0, "client: take the heap and goroutine profiles (as -memprofile-after does) when this many goroutines first run at once, instead of after a time")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("%s: -dir is required", args[0])
	}
	if _, err := sim.RaiseOpenFiles(); err != nil {
		return err
	}
	switch args[0] {
	case "serve":
		f, err := sim.StartFleet(*hosts, *delay, *dir)
		if err != nil {
			return err
		}
		if *cpuProfile != "" {
			pf, err := os.Create(*cpuProfile)
			if err != nil {
				return err
			}
			defer pf.Close()
			if err := pprof.StartCPUProfile(pf); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		return f.Close()
	case "client":
		os.Unsetenv("SSH_AUTH_SOCK") // the fleet's key only
		if *memProfile != "" {
			// One sample per 4 KiB allocated instead of 512 KiB: the
			// per-host objects are smaller than the default rate.
			runtime.MemProfileRate = 4096
		}
		if *cpuProfile != "" {
			f, err := os.Create(*cpuProfile)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
		}
		heapProfile := func() error {
			f, err := os.Create(*memProfile)
			if err != nil {
				return err
			}
			defer f.Close()
			runtime.GC() // the profile is as of the last collection: make it now
			return pprof.Lookup("heap").WriteTo(f, 0)
		}
		profiles := func() {
			if err := heapProfile(); err != nil {
				fmt.Fprintln(os.Stderr, "sim: heap profile:", err)
			}
			if err := goroutineProfile(*memProfile + ".goroutines"); err != nil {
				fmt.Fprintln(os.Stderr, "sim: goroutine profile:", err)
			}
		}
		if *memTrace > 0 {
			stop := make(chan struct{})
			defer close(stop)
			go traceMemory(*memTrace, stop)
		}
		switch {
		case *memProfile != "" && *memGoroutines > 0:
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				t := time.NewTicker(time.Millisecond)
				defer t.Stop()
				for {
					select {
					case <-stop:
						return
					case <-t.C:
					}
					if runtime.NumGoroutine() >= *memGoroutines {
						profiles()
						return
					}
				}
			}()
		case *memProfile != "" && *memAfter > 0:
			t := time.AfterFunc(*memAfter, profiles)
			defer t.Stop()
		}
		res, err := sim.Deploy(ctx, sim.ClientOptions{Dir: *dir, Hosts: *hosts})
		pprof.StopCPUProfile()
		if err != nil {
			return err
		}
		if *memProfile != "" && *memAfter == 0 && *memGoroutines == 0 {
			if err := heapProfile(); err != nil {
				return err
			}
		}
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	return fmt.Errorf("unknown mode %q (want serve or client, or no argument)", args[0])
}

// goroutineProfile writes the goroutines' stacks, grouped, as text.
func goroutineProfile(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("goroutine").WriteTo(f, 1)
}

// traceMemory prints the heap in use, the goroutine stacks, the goroutines
// and the initial stack size every interval until stop is closed.
func traceMemory(interval time.Duration, stop <-chan struct{}) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/sched/goroutines:goroutines"},
		{Name: "/gc/stack/starting-size:bytes"},
		{Name: "/gc/heap/goal:bytes"},
	}
	start := time.Now()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		metrics.Read(samples)
		fmt.Fprintf(os.Stderr, "%6.2fs heap %6.1f MB stacks %6.1f MB goroutines %6d stack start %5d goal %6.1f MB\n",
			time.Since(start).Seconds(), float64(samples[0].Value.Uint64())/1e6, float64(samples[1].Value.Uint64())/1e6,
			samples[2].Value.Uint64(), samples[3].Value.Uint64(), float64(samples[4].Value.Uint64())/1e6)
	}
}
