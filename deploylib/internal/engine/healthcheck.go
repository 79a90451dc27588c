package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
// configured. Its step shares the script of deploy:symlink:release (plan.go),
// so it costs no round trip of its own: each host checks right after its
// own switch, and only if that switch succeeded; the retries are a loop in
// the step (HealthCheck.script).
var CheckHealth = &Task{name: "deploy:health_check", doc: "checks the new release on every host; switches back when it fails",
	plan: func(_ context.Context, r *Run, seg *segment, _ *Task) (*step, error) {
		if r.Config.HealthCheck == nil {
			return &step{}, nil
		}
		if seg.fused() && !seg.has(SymlinkRelease) {
			return nil, errNotHere // it follows the switch, or runs on its own
		}
		hc := r.Config.HealthCheck.withDefaults()
		check := hc.script().In(r.ReleasePath())
		return &step{
			// Publishing is all or nothing: the check shares a script
			// only with the switch before it, never with what follows.
			alone: true,
			cmd:   everywhere(check),
			opts:  runOpts{capture: true}, // shown, and read by verdict
			// Until h's check passed, a run that stops (interrupted
			// before the check was reported) switches back in
			// deploy:failed.
			sending: func(h *Host) { r.state.of(h).checking = true },
			unsent:  func(h *Host) { r.state.of(h).checking = false },
			done: func(_ context.Context, h *Host, out string, err error) error {
				if err := hc.verdict(out, err); err != nil {
					return err
				}
				r.state.of(h).checking = false
				return nil
			},
			finish: func(ctx context.Context, err error) error {
				if err == nil {
					return nil
				}
				// Not passed, or interrupted before it passed: the new
				// release is not known to work, so every host goes back.
				what := "health check failed"
				if ctx.Err() != nil {
					what = "interrupted during the health check"
				}
				back := r.switchBack(ctx) // deploy.go: the publish step's own switch-back
				if back != nil {
					return errors.Join(fmt.Errorf("%s, and switching back failed too: %w", what, err), back)
				}
				return fmt.Errorf("%s; every host was switched back to its previous release: %w", what, err)
			},
		}, nil
	}}

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

// The lines the check's loop prints on standard output (script), which
// verdict reads: one per failed try, and one when no time is left.
const (
	healthTryFailed = "health check: try "
	healthOutOfTime = "health check: out of time"
)

// secs is d in whole seconds, rounded up, at least 1.
func secs(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// try is the shell text of one try, run in the background so that the
// loop can stop it when the time is up: the Command, or a URL probe with
// curl, else wget, bounded by the time left ($capstan_hm seconds).
func (hc HealthCheck) try() string {
	if len(hc.Command) > 0 {
		return shell.New(hc.Command[0], hc.Command[1:]...).String() + " &"
	}
	u := shell.Quote(hc.URL)
	return `{ if command -v curl >/dev/null 2>&1; then exec curl -fsS -o /dev/null --max-time "$capstan_hm" -- ` + u +
		`; else exec wget -q -O /dev/null -T "$capstan_hm" -- ` + u + `; fi; } &`
}

// shown is what the console shows of the check: the probe as a person
// would write it, and its bounds.
func (hc HealthCheck) shown() string {
	what := "curl -fsS " + shell.Quote(hc.URL) + " (else wget)"
	if len(hc.Command) > 0 {
		what = shell.New(hc.Command[0], hc.Command[1:]...).String()
	}
	if hc.Retries == 0 {
		return fmt.Sprintf("%s (within %s)", what, hc.Timeout)
	}
	return fmt.Sprintf("%s (up to %s, %s apart, within %s)", what, tries(hc.Retries+1), hc.Interval, hc.Timeout)
}

// script is the check as one command, the same whether it runs alone or
// in the switch's script: up to Retries+1 tries, Interval apart, all
// within Timeout, each try stopped when the time is up. The clock is
// date +%s (seconds); where it cannot be read, each try still has Timeout.
// A fractional Interval is slept as such where sleep takes one, else
// rounded up to whole seconds. It exits 0 once a try passes, else with the
// last try's status, printing a line per failed try and one when no time
// is left (verdict reads them).
func (hc HealthCheck) script() shell.Command {
	n, limit := hc.Retries+1, secs(hc.Timeout)
	pause := strconv.Itoa(secs(hc.Interval))
	if hc.Interval%time.Second != 0 {
		pause = strconv.FormatFloat(hc.Interval.Seconds(), 'f', -1, 64) + " 2>/dev/null || sleep " + pause
	}
	text := fmt.Sprintf(`capstan_h0=$(date +%%s 2>/dev/null); case $capstan_h0 in ''|*[!0-9]*) capstan_h0= ;; esac
capstan_hleft() { if [ -n "$capstan_h0" ]; then echo $((capstan_h0 + %[2]d - $(date +%%s))); else echo %[2]d; fi; }
capstan_hi=0
while :; do
capstan_hi=$((capstan_hi + 1)); capstan_hm=$(capstan_hleft)
%[3]s
capstan_hp=$!
( capstan_hk=0; while [ "$capstan_hk" -lt "$capstan_hm" ] && kill -0 "$capstan_hp" 2>/dev/null; do sleep 1; capstan_hk=$((capstan_hk + 1)); done; [ "$capstan_hk" -lt "$capstan_hm" ] || kill "$capstan_hp" ) >/dev/null 2>&1 &
wait "$capstan_hp"; capstan_hc=$?
[ "$capstan_hc" -ne 0 ] || exit 0
echo "%[4]s$capstan_hi of %[1]d failed (exit status $capstan_hc)"
capstan_hl=$(capstan_hleft)
if [ "$capstan_hl" -le 0 ] || { [ "$capstan_hi" -lt %[1]d ] && [ "$capstan_hl" -le %[5]s ]; }; then echo "%[6]s (%[7]s)"; exit "$capstan_hc"; fi
[ "$capstan_hi" -lt %[1]d ] || exit "$capstan_hc"
sleep %[8]s
done`, n, limit, hc.try(), healthTryFailed, strconv.Itoa(secs(hc.Interval)), healthOutOfTime, hc.Timeout, pause)
	return shell.Raw(text).Shown(hc.shown())
}

// verdict reads the answer of script on a host: nil when a try passed,
// else an error saying how many tries failed, or that the time ran out,
// and naming the host, the check's command and the last try's status.
func (hc HealthCheck) verdict(out string, err error) error {
	if err == nil {
		return nil
	}
	n, outOfTime := 0, false
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, healthTryFailed):
			n++
		case strings.HasPrefix(line, healthOutOfTime):
			outOfTime = true
		}
	}
	var ce *CommandError
	if n == 0 || !errors.As(err, &ce) {
		return fmt.Errorf("not healthy: %w", err) // no try ended: interrupted, or the connection lost
	}
	named := *ce
	named.Command = redact(hc.shown())
	if outOfTime {
		return fmt.Errorf("not healthy within %s (%s): %w", hc.Timeout, tries(n), &named)
	}
	return fmt.Errorf("not healthy after %s: %w", tries(n), &named)
}

// tries says "1 try", "3 tries".
func tries(n int) string {
	if n == 1 {
		return "1 try"
	}
	return strconv.Itoa(n) + " tries"
}
