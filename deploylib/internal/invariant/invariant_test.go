//go:build unix

package invariant

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// ciSeeds is how many seeds go test runs by default (CISeeds(ciSeeds)):
// about 90 s on a 2-core machine.
const ciSeeds = 12

// seeds returns the seeds to run and, for a soak, until when:
// SOAK_SEED=n (or n,m,...) replays those; SOAK_DURATION=10m runs the
// RegressionSeeds, then seeds from SOAK_START (default: from the clock)
// until the time is up; SOAK_START=n alone runs SOAK_SEEDS (default
// ciSeeds) seeds from n; otherwise CISeeds(SOAK_SEEDS), which cover every
// strategy, risk and kind of operation, and the RegressionSeeds.
func seeds(t *testing.T) (list []uint64, until time.Time) {
	num := func(k string, def uint64) uint64 {
		v := os.Getenv(k)
		if v == "" {
			return def
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: not a number", k, v)
		}
		return n
	}
	if v := os.Getenv("SOAK_SEED"); v != "" {
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
			if err != nil {
				t.Fatalf("SOAK_SEED=%q: not a seed", v)
			}
			list = append(list, n)
		}
		return list, time.Time{}
	}
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SOAK_DURATION=%q: %v", v, err)
		}
		return append(regressionList(), num("SOAK_START", uint64(time.Now().UnixNano()%1_000_000_000))), time.Now().Add(d)
	}
	if v := os.Getenv("SOAK_START"); v != "" {
		start, n := num("SOAK_START", 1), num("SOAK_SEEDS", ciSeeds)
		for i := range n {
			list = append(list, start+i)
		}
		return list, time.Time{}
	}
	list = CISeeds(int(num("SOAK_SEEDS", ciSeeds)))
	for _, seed := range regressionList() {
		if !slices.Contains(list, seed) {
			list = append(list, seed)
		}
	}
	return list, time.Time{}
}

// regressionList is the seeds of RegressionSeeds.
func regressionList() []uint64 {
	var out []uint64
	for _, r := range RegressionSeeds {
		out = append(out, r.Seed)
	}
	return out
}

// replay is the command that replays seed.
func replay(seed uint64) string {
	return fmt.Sprintf("SOAK_SEED=%d go test ./deploylib/internal/invariant -run TestInvariants -v", seed)
}

// TestInvariants runs generated scenarios on lab hosts and checks the
// invariants after every operation (see the package documentation).
func TestInvariants(t *testing.T) {
	lab.RequireRoot(t, suiteNeedsRoot)
	list, until := seeds(t)
	type finding struct {
		seed uint64
		what string
	}
	var findings []finding
	// next returns the i-th seed to run, false when done: in a soak, the
	// regression seeds and then seeds from the last of list on.
	next := func(i int) (uint64, bool) {
		if !until.IsZero() {
			if i < len(list)-1 {
				return list[i], true
			}
			return list[len(list)-1] + uint64(i-len(list)+1), time.Now().Before(until)
		}
		if i < len(list) {
			return list[i], true
		}
		return 0, false
	}
	ran := 0
	for i := 0; ; i++ {
		seed, more := next(i)
		if !more {
			break
		}
		ran++
		var what string
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { what = runScenario(t, Generate(seed)) })
		if what != "" {
			findings = append(findings, finding{seed, what})
		}
	}
	t.Logf("%d seeds, %d with violations", ran, len(findings))
	for _, f := range findings {
		t.Logf("  %s\n      %s", f.what, replay(f.seed))
	}
}

// runScenario plays sc and returns a one-line summary of its first
// violation, "" if none.
func runScenario(t *testing.T, sc Scenario) string {
	start := time.Now()
	w := newWorld(t, sc)
	deploylib.Configure(w.cfg)
	for _, k := range []string{"HOSTS", "ROLES", "ROLLBACK_RELEASE", "DRY_RUN", "CAPSTAN_LOG_FILE", "VERBOSE"} {
		t.Setenv(k, "")
	}
	t.Setenv("USER", "alice")
	base := w.views()
	before := base
	for i, op := range sc.Ops {
		at := w.next(op)
		opStart := time.Now()
		res := w.do(op, at, before)
		res.release = nextRelease(before, res.release)
		ranFor := time.Since(opStart)
		after := w.views()
		var c checker
		c.vs = append(c.vs, res.viol...)
		w.checkOutcome(&c, op, res, before, after)
		w.checkUnpublished(&c, op, res, after)
		w.checkState(&c, before, after, base, ok(res), flowOf(op), res.release)
		if left := w.strays(); len(left) > 0 {
			c.add("no-strays", "", "remote processes still running after the run:\n    %s", strings.Join(left, "\n    "))
			killStrays(left)
		}
		for _, e := range res.exclusion {
			c.add("lock-exclusive", "", "%s", e)
		}
		if len(c.vs) > 0 {
			t.Errorf("%s", w.report(i, res, c.vs))
			var names []string
			for _, v := range c.vs {
				if !slices.Contains(names, v.Invariant) {
					names = append(names, v.Invariant)
				}
			}
			return fmt.Sprintf("seed %d op %d (%s): %s: %s", sc.Seed, i+1, op, strings.Join(names, ", "), c.vs[0])
		}
		var how []string
		for _, r := range res.runs {
			how = append(how, fmt.Sprintf("%s exited %d", r.what, r.status))
		}
		t.Logf("op %d: %s: %s in %s, checked in %s", i+1, op, strings.Join(how, ", "), ranFor.Round(time.Millisecond), (time.Since(opStart) - ranFor).Round(time.Millisecond))
		before = after
	}
	t.Logf("seed %d: %d operations, no violation (%.1fs): %s", sc.Seed, len(sc.Ops), time.Since(start).Seconds(), sc)
	return ""
}

// ok reports whether the operation succeeded: every run did, or, for an
// operation whose other runs are expected to be refused, its decisive one.
func ok(res result) bool {
	for i, r := range res.runs {
		if r.failed() && (res.decisive == 0 || i == res.decisive-1) {
			return false
		}
	}
	return true
}

func flowOf(op Op) string {
	switch op.Kind {
	case OpDeploy, OpHostileLock:
		return "deploy"
	case OpTask:
		return op.Task
	}
	return op.Flow
}

// views reads every host.
func (w *world) views() []hostView {
	var vs []hostView
	for _, h := range w.l.Hosts {
		vs = append(vs, w.view(h))
	}
	return vs
}

// report describes the violations of operation i with what it takes to
// replay them.
func (w *world) report(i int, res result, vs []Violation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d, operation %d of %d: %s\n", w.sc.Seed, i+1, len(w.sc.Ops), w.sc.Ops[i])
	for _, v := range vs {
		fmt.Fprintf(&b, "  %s\n", v)
	}
	fmt.Fprintf(&b, "replay: %s\n", replay(w.sc.Seed))
	fmt.Fprintf(&b, "scenario: %s\n", w.sc)
	for j, op := range w.sc.Ops[:i+1] {
		fmt.Fprintf(&b, "  %d. %s\n", j+1, op)
	}
	for _, r := range res.runs {
		fmt.Fprintf(&b, "--- %s: exit status %d; error: %v\n%s\n", r.what, r.status, r.err, tail(r.out, 30))
	}
	return b.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(squeezeRuns(s), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[%d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return "    " + strings.Join(lines, "\n    ")
}

// unchanged reports whether the live hosts' state is the same in a and b
// (current, releases, markers, lock, revisions.log).
func (w *world) unchanged(a, b []hostView) string {
	for i := range a {
		if w.dead[i] {
			continue
		}
		x, y := a[i], b[i]
		switch {
		case x.Current != y.Current:
			return fmt.Sprintf("%s: current %q -> %q", x.Name, x.Current, y.Current)
		case strings.Join(sortedKeys(x.Releases), " ") != strings.Join(sortedKeys(y.Releases), " "):
			return fmt.Sprintf("%s: releases %v -> %v", x.Name, sortedKeys(x.Releases), sortedKeys(y.Releases))
		case strings.Join(sortedKeys(x.Unfinished), " ") != strings.Join(sortedKeys(y.Unfinished), " "):
			return fmt.Sprintf("%s: unfinished %v -> %v", x.Name, sortedKeys(x.Unfinished), sortedKeys(y.Unfinished))
		case x.RevLog != y.RevLog:
			return fmt.Sprintf("%s: revisions.log changed", x.Name)
		}
	}
	return ""
}

// nextRelease is the name a deploy started at the clock's name gives its
// release: that name, or one second after the newest release on any host
// when that one is as late or later (names are new and sort last).
func nextRelease(before []hostView, name string) string {
	if name == "" {
		return name
	}
	for _, v := range before {
		for rel := range v.Releases {
			if remote.IsReleaseName(rel) && rel >= name {
				name = remote.ReleaseNameAfter(rel)
			}
		}
	}
	return name
}

// checkOutcome checks that the exit status tells the truth: a run with no
// fault succeeds and did its job (or, for a configuration a careful tool
// refuses, fails having changed nothing); a run with a fault fails and
// names the host and the cause; a signal gives 128+n.
func (w *world) checkOutcome(c *checker, op Op, res result, before, after []hostView) {
	deployTo := w.sc.DeployTo
	for _, r := range res.runs {
		if r.failed() && strings.TrimSpace(r.message()) == "" {
			c.add("failure-named", "", "%s failed (status %d) without saying why", r.what, r.status)
		}
	}
	// A questionable configuration may be refused by any operation, as
	// long as the refusal changes nothing; an empty upload must be. A run
	// that met its injected fault was not refused: the fault's rules below
	// apply to it.
	if why := w.sc.questionable(); why != "" && allFailed(res.runs) && !faultMet(op, res) {
		if changed := w.unchanged(before, after); changed != "" {
			c.add("exit-status", "", "refused (%s) but changed something: %s", why, changed)
		}
		return
	}
	if w.sc.Strategy == UploadEmpty && (op.Kind == OpDeploy || op.Kind == OpTwo) {
		for _, r := range res.runs {
			if r.what == "deploy" && !r.failed() {
				c.add("exit-status", "", "a deploy of an empty upload directory succeeded: it must refuse to publish an empty release")
			}
		}
	}
	currents := func() (out []string) {
		for i, v := range after {
			if !w.dead[i] {
				out = append(out, v.Current)
			}
		}
		return out
	}
	newRel := path.Join(deployTo, "releases", res.release)
	allOn := func(want string) bool {
		for _, cur := range currents() {
			if cur != want {
				return false
			}
		}
		return true
	}
	lastLine := func(v hostView) string {
		lines := strings.Split(strings.TrimRight(v.RevLog, "\n"), "\n")
		return lines[len(lines)-1]
	}
	// plain checks a run with no fault of flow.
	plain := func(flow string, r runResult, rollbackWant string) {
		switch flow {
		case "deploy":
			if r.failed() {
				why := w.sc.questionable()
				if changed := w.unchanged(before, after); why == "" || changed != "" {
					if why != "" {
						why = " (" + why + ": a refusal is fine, but it must change nothing; " + changed + ")"
					}
					c.add("exit-status", "", "deploy with no fault injected failed%s: %s", why, firstLines(r.message(), 6))
				}
				return
			}
			if !allOn(newRel) {
				c.add("exit-status", "", "deploy succeeded but current is %q, want %s on every host", currents(), newRel)
			}
			want := fmt.Sprintf("Branch %s (at %s) deployed as release %s by alice", w.sc.Branch, w.sha, res.release)
			for i, v := range after {
				if !w.dead[i] && lastLine(v) != want {
					c.add("revisions-log", v.Name, "after the deploy the last line is %q, want %q", lastLine(v), want)
				}
			}
		case "rollback":
			target := w.predictRollback(before, rollbackWant)
			if target == "" {
				if !r.failed() {
					c.add("exit-status", "", "rollback (ROLLBACK_RELEASE=%q) succeeded where it must refuse (no such finished release other than current on every host); current now %q", rollbackWant, currents())
				} else if changed := w.unchanged(before, after); changed != "" {
					c.add("exit-status", "", "rollback refused but changed something: %s", changed)
				}
				return
			}
			if r.failed() {
				c.add("exit-status", "", "rollback to %s (ROLLBACK_RELEASE=%q) failed with no fault injected: %s", target, rollbackWant, firstLines(r.message(), 6))
				return
			}
			if want := path.Join(deployTo, "releases", target); !allOn(want) {
				c.add("exit-status", "", "rollback succeeded but current is %q, want %s", currents(), want)
			}
			for i, v := range after {
				if want := "alice rolled back to release " + target; !w.dead[i] && lastLine(v) != want {
					c.add("revisions-log", v.Name, "after the rollback the last line is %q, want %q", lastLine(v), want)
				}
			}
		}
	}
	if op.Kind == OpSecretLine && op.Fail {
		// Its hook's command fails after deploy:updated on op.Host.
		op = Op{Kind: OpHookFail, Flow: "deploy", HookTask: "deploy:updated", HookAfter: true, Host: op.Host}
	}
	switch op.Kind {
	case OpDeploy, OpSecretLine:
		plain("deploy", res.runs[0], "")
	case OpHostileLock, OpStuckRemoval:
		plain("deploy", res.runs[len(res.runs)-1], "")
	case OpFarFuture:
		if r := res.runs[0]; !r.failed() {
			plain("deploy", r, "") // a refusal is checked where it happened
		}
	case OpForeignUnlock:
		if res.decisive == 0 {
			plain("deploy", res.runs[0], "")
			return
		}
		unlock, second, holder := res.runs[0], res.runs[1], res.runs[2]
		if !unlock.failed() {
			c.add("exit-status", "", "deploy:unlock without FORCE removed the lock of a live run (in another %s with this hostname, its heartbeat fresh): %s", op.Variant, firstLines(unlock.message(), 3))
		}
		if !second.failed() || !strings.Contains(second.message(), "deploy lock is held by") {
			c.add("lock-exclusive", "", "a deploy started while another run held the lock was not refused by it (status %d): %s", second.status, firstLines(second.message(), 4))
		}
		plain("deploy", holder, "")
	case OpRollback:
		plain("rollback", res.runs[0], res.rollback)
	case OpUnlock:
		if r := res.runs[0]; r.failed() {
			c.add("exit-status", "", "deploy:unlock failed: %s", firstLines(r.message(), 4))
		}
	case OpTwo:
		proceeded := 0
		for _, r := range res.runs {
			msg := r.message()
			switch {
			case !r.failed():
				proceeded++
			case strings.Contains(msg, "deploy lock is held by") && strings.Contains(msg, "Nothing was changed"):
				// Refused. (The run that got the first host's lock and
				// waited for the other to let go says so, and proceeds.)
			case strings.Contains(r.what, "rollback") && strings.Contains(msg, "no older releases"):
				proceeded++
			default:
				proceeded++ // past the lock, it failed for its own reason
				c.add("exit-status", "", "%s, run beside another with no fault, failed for another reason than the lock: %s", r.what, firstLines(msg, 6))
			}
		}
		if proceeded == 0 {
			c.add("lock-exclusive", "", "of two runs started together both were refused by the lock")
		}
	case OpSignal:
		r := res.runs[0]
		if !res.delivered {
			plain(op.Flow, r, "")
			return
		}
		want := 130
		if op.Signal == "SIGTERM" {
			want = 143
		}
		if r.status != want {
			c.add("exit-status", "", "interrupted by %s, the run exited %d, want %d", op.Signal, r.status, want)
		}
		w.oneOf(c, op, before, after, res)
	case OpHookFail, OpHostLost:
		r := res.runs[0]
		if op.Kind == OpHostLost && !res.delivered {
			plain(op.Flow, r, "")
			return
		}
		if op.Flow == "rollback" && w.predictRollback(before, "") == "" {
			if !r.failed() {
				c.add("exit-status", "", "rollback succeeded where it must refuse")
			}
			return
		}
		addr := w.l.Hosts[op.Host].Addr
		switch {
		case !r.failed():
			c.add("exit-status", "", "%s succeeded although %s", r.what, op)
		case !strings.Contains(r.message(), addr):
			c.add("failure-named", "", "the failure does not name host%d (%s): %s", op.Host+1, addr, firstLines(r.message(), 6))
		case op.Kind == OpHookFail && !strings.Contains(r.message(), hookFailure):
			c.add("failure-named", "", "the failure does not carry the hook's error %q: %s", hookFailure, firstLines(r.message(), 6))
		}
		w.oneOf(c, op, before, after, res)
	}
}

// oneOf checks where a failed or interrupted flow leaves current: on the
// previous release or on the run's own (deploy) or target (rollback), and
// for a hook failure exactly which one, by the phase it failed in.
func (w *world) oneOf(c *checker, op Op, before, after []hostView, res result) {
	deployTo := w.sc.DeployTo
	prev := before[w.firstLive()].Current
	next := path.Join(deployTo, "releases", res.release)
	if op.Flow == "rollback" {
		next = path.Join(deployTo, "releases", w.predictRollback(before, ""))
	}
	for i, v := range after {
		if w.dead[i] {
			continue
		}
		if v.Current != prev && v.Current != next {
			c.add("current-complete", v.Name, "after %s current is %q: neither the previous release %q nor the run's %q", op.Kind, v.Current, prev, next)
		}
	}
	if op.Kind != OpHookFail {
		return
	}
	tasks := deployFlowTasks
	if op.Flow == "rollback" {
		tasks = rollbackFlowTasks
	}
	idx, pub := slices.Index(tasks, op.HookTask), slices.Index(tasks, "deploy:symlink:release")
	want := ""
	switch {
	case idx < slices.Index(tasks, "deploy:publishing") || (!op.HookAfter && idx <= pub):
		want = prev
	case idx > pub || op.HookAfter:
		want = next
	}
	for i, v := range after {
		if !w.dead[i] && want != "" && v.Current != want {
			c.add("exit-status", v.Name, "a hook failing %s %s must leave current on %q, it is %q", map[bool]string{true: "after", false: "before"}[op.HookAfter], op.HookTask, want, v.Current)
		}
	}
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// faultMet reports whether op's injected fault happened during the run
// (a signal or a host loss delivered, the failing hook's error reported),
// so that its failure is the fault's, not a refusal of the configuration.
func faultMet(op Op, res result) bool {
	switch op.Kind {
	case OpSignal, OpHostLost:
		return res.delivered
	case OpHookFail:
		return len(res.runs) > 0 && strings.Contains(res.runs[0].message(), hookFailure)
	}
	return false
}

// allFailed reports whether every run failed.
func allFailed(runs []runResult) bool {
	for _, r := range runs {
		if !r.failed() {
			return false
		}
	}
	return len(runs) > 0
}
