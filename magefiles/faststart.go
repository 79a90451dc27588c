//go:build mage

package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Faststart times a repeat deploy of the local stage run four ways: the compiled binary, the same with the staleness check off, go tool mage with MAGEFILE_HASHFAST=1, and go tool mage as is.
//
// Settings: FASTSTART_RUNS=15 (runs of each, alternating) FASTSTART_TARGETS="local deploy".
func Faststart(ctx context.Context) error {
	runs, err := strconv.Atoi(cmp.Or(os.Getenv("FASTSTART_RUNS"), "15"))
	if err != nil || runs < 1 {
		return fmt.Errorf("faststart: FASTSTART_RUNS=%q is not a positive number", os.Getenv("FASTSTART_RUNS"))
	}
	targets := strings.Fields(cmp.Or(os.Getenv("FASTSTART_TARGETS"), "local deploy"))
	dir, err := os.MkdirTemp("", "capstan-faststart-")
	if err != nil {
		return fmt.Errorf("faststart: temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "deploy")
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "MAGEFILE_") || strings.HasPrefix(kv, "CAPSTAN_FRESHNESS=")
	})
	env = append(env, "NO_COLOR=1", "CAPSTAN_LOG_FILE=off", "MAGEFILE_CACHE="+filepath.Join(dir, "magecache"))
	fast := append(slices.Clone(env), "MAGEFILE_HASHFAST=1")
	ways := []struct {
		name string
		argv []string
		env  []string
	}{
		{"compiled binary", append([]string{bin}, targets...), env},
		{"compiled binary, CAPSTAN_FRESHNESS=off", append([]string{bin}, targets...), append(slices.Clone(env), "CAPSTAN_FRESHNESS=off")},
		{"MAGEFILE_HASHFAST=1 go tool mage", append([]string{"go", "tool", "mage"}, targets...), fast},
		{"go tool mage (relinks)", append([]string{"go", "tool", "mage"}, targets...), env},
	}
	run := func(argv, env []string) (wall, cpu time.Duration, err error) {
		c := exec.CommandContext(ctx, argv[0], argv[1:]...)
		c.Env = env
		start := time.Now()
		out, err := c.CombinedOutput()
		wall = time.Since(start)
		if err != nil {
			return 0, 0, fmt.Errorf("faststart: %s: %w\n%s", strings.Join(argv, " "), err, out)
		}
		// wait4's usage includes the children the process waited for
		// (go tool runs mage, mage runs the binary).
		return wall, c.ProcessState.UserTime() + c.ProcessState.SystemTime(), nil
	}
	if _, _, err := run([]string{"go", "tool", "mage", "-compile", bin}, env); err != nil {
		return err
	}
	if _, _, err := run(append([]string{"go", "tool", "mage", "-f"}, targets...), fast); err != nil {
		return err
	}
	walls := make([][]time.Duration, len(ways))
	cpus := make([][]time.Duration, len(ways))
	for range runs {
		for i, w := range ways {
			wall, cpu, err := run(w.argv, w.env)
			if err != nil {
				return err
			}
			walls[i], cpus[i] = append(walls[i], wall), append(cpus[i], cpu)
		}
	}
	fmt.Printf("%s, %d runs of each, alternating; medians (min-max)\n\n", strings.Join(targets, " "), runs)
	fmt.Printf("| command | wall | CPU (user+sys) |\n| --- | ---: | ---: |\n")
	for i, w := range ways {
		fmt.Printf("| %s | %.3f s (%.3f-%.3f) | %.3f s |\n", w.name, median(walls[i]).Seconds(),
			slices.Min(walls[i]).Seconds(), slices.Max(walls[i]).Seconds(), median(cpus[i]).Seconds())
	}
	fmt.Printf("\nMAGEFILE_HASHFAST=1 go tool mage adds %.3f s of wall time and %.3f s of CPU to the compiled binary;\nthe binary with the check against without: %+.3f s of wall time, %+.3f s of CPU.\n",
		(median(walls[2]) - median(walls[0])).Seconds(), (median(cpus[2]) - median(cpus[0])).Seconds(),
		(median(walls[0]) - median(walls[1])).Seconds(), (median(cpus[0]) - median(cpus[1])).Seconds())
	return nil
}

// median returns the median of ds (the mean of the middle two for an even
// count).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
