package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// HealthCheck is a check that must pass on every release host once
// current points at the new release (Config.HealthCheck). It runs as
// deploy:health_check, the last step of deploy:publishing; when it fails
// on any host, every host is switched back to the release it served
// before, and the run fails saying so.
type HealthCheck struct {
	// URL is probed on each host, from the host itself, with curl (else
	// wget): "http://127.0.0.1:8080/healthz". Any 2xx or 3xx answer passes.
	URL string
	// Command runs on each host in the new release's directory instead of
	// a URL probe, name first: []string{"./bin/shop", "health"}. Exit
	// status 0 passes.
	Command []string
	// Retries is how many more times a failed check is tried on a host.
	// Default 0: one try.
	Retries int
	// Interval is the wait between tries. Default 2s.
	Interval time.Duration
	// Timeout is how long a host has for all its tries together. Default
	// 30s.
	Timeout time.Duration
}

// CheckHealth runs Config.HealthCheck on every release host after current
// switched; when it fails anywhere, every host goes back to its previous
// release. It is a step of deploy:publishing only when a health check is
// configured.
var CheckHealth = &Task{name: "deploy:health_check", doc: "checks the new release on every host; switches back when it fails", action: checkHealth}

// validate reports a health check that cannot run.
func (hc *HealthCheck) validate() error {
	switch {
	case hc == nil:
		return nil
	case (hc.URL == "") == (len(hc.Command) == 0):
		return errors.New("config: HealthCheck: set either URL or Command")
	case hc.Retries < 0 || hc.Interval < 0 || hc.Timeout < 0:
		return errors.New("config: HealthCheck: Retries, Interval and Timeout must not be negative")
	case len(hc.Command) > 0 && hc.Command[0] == "":
		return errors.New("config: HealthCheck: Command has an empty name")
	}
	return nil
}

func (hc HealthCheck) withDefaults() HealthCheck {
	if hc.Interval == 0 {
		hc.Interval = 2 * time.Second
	}
	if hc.Timeout == 0 {
		hc.Timeout = 30 * time.Second
	}
	return hc
}

// healthCmd builds the check's command: the Command, or a URL probe with
// curl, else wget, each try bounded by the check's timeout.
func (hc HealthCheck) healthCmd() shell.Command {
	if len(hc.Command) > 0 {
		return shell.New(hc.Command[0], hc.Command[1:]...)
	}
	secs := strconv.Itoa(max(1, int(hc.Timeout.Seconds())))
	hasCurl := shell.New("command", "-v", "curl").WriteTo("/dev/null").Quiet()
	curl := shell.New("curl", "-fsS", "-o", "/dev/null", "--max-time", secs, "--", hc.URL)
	wget := shell.New("wget", "-q", "-O", "/dev/null", "-T", secs, "--", hc.URL)
	return hasCurl.And(curl).Or(hasCurl.Not().And(wget))
}

func checkHealth(ctx context.Context) error {
	r := CurrentRun(ctx)
	if r.Config.HealthCheck == nil {
		return nil
	}
	hc := r.Config.HealthCheck.withDefaults()
	cmd := hc.healthCmd()
	err := On(ctx, ReleaseHosts(), func(ctx context.Context, h *Host) error {
		return hc.probe(ctx, h.Within(r.ReleasePath()), cmd)
	})
	if err == nil {
		return nil
	}
	// Not passed, or interrupted before it passed: the new release is not
	// known to work, so every host goes back.
	what := "health check failed"
	if ctx.Err() != nil {
		what = "interrupted during the health check"
	}
	back := r.switchBack(ctx) // deploy.go: the publish step's own switch-back
	if back != nil {
		return errors.Join(fmt.Errorf("%s, and switching back failed too: %w", what, err), back)
	}
	return fmt.Errorf("%s; every host was switched back to its previous release: %w", what, err)
}

// probe tries the check on h until it passes, Retries run out or Timeout
// passes. Tries before the last are tests (shown in verbose mode); the
// last is shown with its result.
func (hc HealthCheck) probe(ctx context.Context, h *Host, cmd shell.Command) error {
	ctx, cancel := context.WithTimeout(ctx, hc.Timeout)
	defer cancel()
	last := hc.Retries + 1
	for try := 1; ; try++ {
		if try == last {
			err := h.ExecuteCommand(ctx, cmd)
			if err != nil && ctx.Err() != nil {
				return fmt.Errorf("not healthy within %s (%s): %w", hc.Timeout, tries(try), err)
			}
			if err != nil {
				return fmt.Errorf("not healthy after %s: %w", tries(try), err)
			}
			return nil
		}
		ok, err := h.TestCommand(ctx, cmd)
		if ok && err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("not healthy within %s (%s)", hc.Timeout, tries(try))
		}
		Logf(ctx, "%s: not healthy yet (try %d of %d); again in %s", h, try, last, hc.Interval)
		select {
		case <-time.After(hc.Interval):
		case <-ctx.Done():
			return fmt.Errorf("not healthy within %s (%s)", hc.Timeout, tries(try))
		}
	}
}

// tries says "1 try", "3 tries".
func tries(n int) string {
	if n == 1 {
		return "1 try"
	}
	return strconv.Itoa(n) + " tries"
}
