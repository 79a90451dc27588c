package engine

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// fleet is one Recorder per host, each with rules of its own, so that a
// step can fail on one host only.
type fleet struct {
	mu   sync.Mutex
	recs map[string]*backend.Recorder
}

func (f *fleet) log(host string) []string {
	f.mu.Lock()
	rec := f.recs[host]
	f.mu.Unlock()
	if rec == nil {
		return nil
	}
	var out []string
	for _, c := range rec.Log() {
		out = append(out, c.Command)
	}
	return out
}

// fleetRun starts task with rules(host) answering each host.
func fleetRun(t *testing.T, d *Deployment, st Stage, task *Task, rules func(host string) []backend.Rule) (*fleet, string, error) {
	t.Helper()
	f := &fleet{recs: map[string]*backend.Recorder{}}
	out, err := f.run(d, st, task, rules)
	return f, out, err
}

// run starts task on f's recorders, made as the hosts are dialed.
func (f *fleet) run(d *Deployment, st Stage, task *Task, rules func(host string) []backend.Rule) (string, error) {
	var out bytes.Buffer
	err := d.Start(context.Background(), task, WithStage(st), WithOutput(&out), WithColor(false), WithClock(fixedClock(0)),
		func(o *runOptions) { o.runID = "run0001" }, WithLogFile(""),
		WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			rec := backend.NewRecorder(s.Host, rules(s.Host)...)
			f.recs[s.Host] = rec
			return rec, nil
		}))
	return out.String(), err
}

// standard answers the flow's commands as real hosts that hold a mirror,
// and whose lock lists the releases, would.
func standard(string) []backend.Rule {
	mirror := backend.Rule{Match: "echo mirror-exists", Reply: backend.Reply{Stdout: "mirror-exists\n"}}
	return append([]backend.Rule{lockListed, mirror}, gitRules...)
}

func sentWith(cmds []string, s string) bool {
	return slices.ContainsFunc(cmds, func(c string) bool { return strings.Contains(c, s) })
}

// taskLines returns the names on the console's task lines ("00:00 name").
func taskLines(out string) []string {
	var names []string
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 6 && l[2] == ':' && l[5] == ' ' && !strings.Contains(l[6:], " ") {
			names = append(names, l[6:])
		}
	}
	return names
}

// A hook between two tasks splits their script where it hangs: a hook
// before deploy:updated sees the release created and linked on every host,
// and current not switched anywhere; a hook before
// deploy:symlink:linked_dirs sees the linked files done and the linked
// dirs not. Each hook at a phase boundary costs only its own commands.
func TestHookSplitsTheScript(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	hosts := []string{"web1", "web2", "web3"}
	var f *fleet
	var checked []string
	BeforeIn(d, Updated, func(ctx context.Context) error {
		for _, h := range hosts {
			cmds := f.log(h)
			if !sentWith(cmds, "mkdir /srv/shop/releases/20261125214042") || !sentWith(cmds, "ln -s /srv/shop/shared/tmp/pids") {
				t.Errorf("before deploy:updated, %s has not created and linked the release:\n%s", h, strings.Join(cmds, "\n"))
			}
			if sentWith(cmds, "switch-run0001/current") {
				t.Errorf("before deploy:updated, %s switched current already", h)
			}
		}
		checked = append(checked, "updated")
		return On(ctx, All(), func(ctx context.Context, h *Host) error { return h.Execute(ctx, "echo", "updated") })
	})
	BeforeIn(d, SymlinkLinkedDirs, func(ctx context.Context) error {
		for _, h := range hosts {
			cmds := f.log(h)
			if !sentWith(cmds, "ln -s /srv/shop/shared/config/secrets.yml") {
				t.Errorf("before deploy:symlink:linked_dirs, %s has not linked the files", h)
			}
			if sentWith(cmds, "ln -s /srv/shop/shared/log") {
				t.Errorf("before deploy:symlink:linked_dirs, %s linked the dirs already", h)
			}
		}
		checked = append(checked, "linked_dirs")
		return nil
	})
	f = &fleet{recs: map[string]*backend.Recorder{}}
	out, err := f.run(d, testStage(hosts...), Deploy, standard)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !slices.Equal(checked, []string{"linked_dirs", "updated"}) {
		t.Errorf("hooks ran: %v", checked)
	}
	// Four scripts, the hook's own command, and one more where the hook
	// before linked_dirs cut the second script in two.
	for _, h := range hosts {
		if n := len(f.log(h)); n != repeatDeployCommandsPerHost+1+1 {
			t.Errorf("%s ran %d commands, want %d:\n%s", h, n, repeatDeployCommandsPerHost+2, strings.Join(f.log(h), "\n"))
		}
	}
	// The console reports every task, in the flow's order.
	want := []string{"git:check", "deploy:check:directories", "deploy:lock", "deploy:set_previous_revision", "deploy:new_release_path",
		"git:clone", "git:update", "git:create_release", "deploy:set_current_revision", "deploy:symlink:linked_files",
		"engine.TestHookSplitsTheScript.func2", "deploy:symlink:linked_dirs", "engine.TestHookSplitsTheScript.func1",
		"deploy:symlink:release", "deploy:cleanup", "deploy:log_revision"}
	if got := taskLines(out); !slices.Equal(got, want) {
		t.Errorf("task lines\n%v\nwant\n%v\n%s", got, want, out)
	}
}

// Hooks where teams hang them (before deploy:check, after deploy:updated,
// after deploy:published) cost only their own commands.
func TestPhaseHooksCostOnlyTheirCommands(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	hook := func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error { return h.Execute(ctx, "true") })
	}
	BeforeIn(d, Check, hook)
	AfterIn(d, Updated, hook)
	AfterIn(d, Published, hook)
	f, out, err := fleetRun(t, d, testStage("web1", "web2", "web3"), Deploy, standard)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, h := range []string{"web1", "web2", "web3"} {
		if n := len(f.log(h)); n != repeatDeployCommandsPerHost+3 {
			t.Errorf("%s ran %d commands, want %d:\n%s", h, n, repeatDeployCommandsPerHost+3, strings.Join(f.log(h), "\n"))
		}
	}
}

// A step that fails on one host fails its task, naming the host; the tasks
// after it are not reported as run; deploy:failed removes the release on
// every host whose script created it, and the lock is released everywhere.
func TestPlannedStepFailure(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	f, out, err := fleetRun(t, d, testStage("web1", "web2", "web3"), Deploy, func(host string) []backend.Rule {
		rules := standard(host)
		if host == "web2" {
			rules = append([]backend.Rule{{Match: "git archive", Reply: backend.Reply{Status: 2, Stderr: "tar: no space left\n"}}}, rules...)
		}
		return rules
	})
	var te *TaskError
	if !errors.As(err, &te) || te.Task != "git:create_release" || !strings.Contains(err.Error(), "web2") || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("error = %v, want git:create_release failing on web2\n%s", err, out)
	}
	got := taskLines(out)
	if i := slices.Index(got, "git:create_release"); i < 0 || slices.Contains(got[i+1:], "deploy:set_current_revision") ||
		slices.Contains(got[i+1:], "deploy:symlink:linked_files") || !slices.Contains(got[i+1:], "deploy:failed") {
		t.Errorf("task lines %v: want git:create_release, then deploy:failed only\n%s", got, out)
	}
	if !strings.Contains(out, "✘ 01 web2") {
		t.Errorf("no ✘ line for web2:\n%s", out)
	}
	for _, h := range []string{"web1", "web2", "web3"} {
		cmds := f.log(h)
		if !sentWith(cmds, remote.HasLine("/srv/shop/.capstan/unfinished/20261125214042", "run0001").String()) {
			t.Errorf("%s: deploy:failed did not remove the release:\n%s", h, strings.Join(cmds, "\n"))
		}
		if !sentWith(cmds, "capstan-lock-not-ours") {
			t.Errorf("%s: the lock was not released", h)
		}
		if sentWith(cmds, "switch-run0001/current") {
			t.Errorf("%s: current was switched", h)
		}
	}
	// web1 and web3 went on to link the release in the same script: what
	// deploy:failed removes.
	if cmds := f.log("web1"); !sentWith(cmds, "ln -s /srv/shop/shared/log") {
		t.Errorf("web1's script lacks the linked dirs:\n%s", strings.Join(cmds, "\n"))
	}
}

// Every host is sent the checks, the lock and the release at once, and the
// first host by name decides: when another run holds the lock there, this
// run stops, naming that host; where it took the lock, it removes the
// release it built there, then releases the lock.
func TestPlannedLockHeldOnFirstHost(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	held := backend.Rule{Match: "ln -sn lock.d-", Reply: backend.Reply{Stdout: "capstan-lock-held\nrun_id=other\nuser=bob\n"}}
	f, out, err := fleetRun(t, d, testStage("web3", "web1", "web2"), Deploy, func(host string) []backend.Rule {
		if host == "web1" {
			return append([]backend.Rule{held}, standard(host)...)
		}
		return standard(host)
	})
	var le *LockedError
	if !errors.As(err, &le) || le.Host != "web1" {
		t.Fatalf("error = %v, want the lock held on web1\n%s", err, out)
	}
	if cmds := f.log("web1"); len(cmds) != 1 {
		t.Errorf("web1 ran %d commands, want the one script:\n%s", len(cmds), strings.Join(cmds, "\n"))
	}
	for _, h := range []string{"web2", "web3"} {
		cmds := f.log(h)
		if len(cmds) != 3 || !strings.Contains(cmds[0], "ln -sn lock.d-run0001") || !strings.Contains(cmds[0], "git archive") ||
			!strings.Contains(cmds[1], remote.HasLine("/srv/shop/.capstan/unfinished/20261125214042", "run0001").String()+" && rm -rf /srv/shop/releases/20261125214042") ||
			!strings.Contains(cmds[2], "rm -rf -- /srv/shop/.capstan/lock /srv/shop/.capstan/lock.d-run0001") {
			t.Errorf("%s ran, want the checks, the lock and the release, then the release's removal, then the lock's release:\n%s", h, strings.Join(cmds, "\n"))
		}
	}
}

// When the checks fail before the lock, every host reports its checks,
// and no host takes the lock: each host's script stops at its check.
func TestPlannedChecksFailBeforeTheLock(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	missing := backend.Rule{Match: "echo missing config/secrets.yml", Reply: backend.Reply{Stdout: "missing config/secrets.yml\n"}}
	f, out, err := fleetRun(t, d, testStage("web1", "web2"), Deploy, func(host string) []backend.Rule {
		return append([]backend.Rule{missing}, standard(host)...)
	})
	if err == nil || !strings.Contains(err.Error(), "web1") || !strings.Contains(err.Error(), "web2") || !strings.Contains(err.Error(), "linked files missing") {
		t.Fatalf("error = %v, want both hosts' missing files\n%s", err, out)
	}
	for _, h := range []string{"web1", "web2"} {
		if cmds := f.log(h); len(cmds) != 1 {
			t.Errorf("%s ran %d commands, want the one script and no lock to release:\n%s", h, len(cmds), strings.Join(cmds, "\n"))
		}
	}
	// The log's tail, shown as the run fails, may name the task in the
	// script as sent; its task line is what says it ran.
	if slices.Contains(taskLines(out), "deploy:lock") {
		t.Errorf("deploy:lock reported as run:\n%s", out)
	}
}

// A dry run shows every command on its own, as before.
func TestDryRunIsNotPlanned(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	var buf bytes.Buffer
	err := d.Start(context.Background(), Deploy, WithStage(testStage("web1")), WithOutput(&buf), WithColor(false), WithClock(fixedClock(0)),
		WithDryRun(), WithLogFile(""))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "capstan-step") {
		t.Errorf("a dry run printed a script:\n%s", buf.String())
	}
}

// deploy:cleanup removes what a listing after the switch would have
// listed, computed from the lock's answer: in the last script, behind the
// lock's fence and a refusal to remove the release current points at.
func TestPlannedCleanupFromTheLock(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.KeepReleases = 2
	d := isolate(t, cfg)
	lock := backend.Rule{Match: "ln -sn lock.d-", Reply: backend.Reply{Stdout: "capstan-lock-taken\n/srv/shop/releases/20261124000000\n" +
		"20261120000000\n20261121000000\n20261122000000\n20261124000000\ncapstan-lock-unfinished\n20261122000000\n"}}
	f, out, err := fleetRun(t, d, testStage("web1"), Deploy, func(host string) []backend.Rule {
		return append([]backend.Rule{lock}, standard(host)...)
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cmds := f.log("web1")
	if len(cmds) != repeatDeployCommandsPerHost {
		t.Errorf("%d commands, want %d", len(cmds), repeatDeployCommandsPerHost)
	}
	last := cmds[len(cmds)-1]
	for _, want := range []string{
		remote.HasLine("/srv/shop/.capstan/lock/details", "run_id=run0001").String(),
		"test '!' /srv/shop/releases/20261120000000 -ef /srv/shop/current",
		"rm -rf /srv/shop/releases/20261120000000 /srv/shop/releases/20261121000000 /srv/shop/releases/20261122000000 ",
		"deployed as release 20261125214042",
		"capstan-lock-not-ours",
	} {
		if !strings.Contains(last, want) {
			t.Errorf("the last script lacks %q:\n%s", want, last)
		}
	}
	if strings.Contains(last, "/srv/shop/releases/20261124000000 ") || strings.Contains(last, "echo --capstan--") {
		t.Errorf("the last script removes the kept release or lists releases:\n%s", last)
	}
	if !strings.Contains(out, "00:00 deploy:cleanup\n      01 rm -rf /srv/shop/releases/20261120000000") {
		t.Errorf("the console does not show the removal under deploy:cleanup:\n%s", out)
	}
}

// turnConn holds every script that fetches (git:update's step) until
// release is closed, saying on started which host began one.
type turnConn struct {
	*backend.Recorder
	started chan string
	release chan struct{}
}

func (c *turnConn) Run(ctx context.Context, cmd shell.Command, stdio backend.Stdio) error {
	if strings.Contains(cmd.String(), "git cat-file -e") {
		c.started <- c.Host
		<-c.release
	}
	return c.Recorder.Run(ctx, cmd, stdio)
}

// With more hosts than Git.MaxConcurrent, only the hosts whose mirror
// lacks the pinned revision wait for a turn to fetch.
func TestPlannedFetchTurns(t *testing.T) {
	t.Parallel()
	const sha = "0123456789abcdef0123456789abcdef01234567"
	cfg := testConfig()
	cfg.Strategy = Git{MaxConcurrent: 1}
	d := isolate(t, cfg)
	started, release := make(chan string, 4), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var buf bytes.Buffer
		done <- d.Start(context.Background(), Deploy, WithStage(testStage("web1", "web2", "web3", "web4")), WithOutput(&buf), WithColor(false),
			WithClock(fixedClock(0)), func(o *runOptions) { o.runID = "run0001" }, WithLogFile(""),
			WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) {
				at := sha // web1 and web2 have it
				if s.Host == "web3" || s.Host == "web4" {
					at = "fedcba9876543210fedcba9876543210fedcba98"
				}
				mirror := backend.Rule{Match: "echo mirror-exists", Reply: backend.Reply{Stdout: "mirror-exists\nmirror-at " + at + "\n"}}
				rec := backend.NewRecorder(s.Host, append([]backend.Rule{lockListed, mirror}, gitRules...)...)
				return &turnConn{Recorder: rec, started: started, release: release}, nil
			}))
	}()
	got := map[string]bool{}
	for len(got) < 3 {
		select {
		case h := <-started:
			got[h] = true
		case err := <-done:
			t.Fatalf("the deploy ended (%v) with %v fetching", err, got)
		case <-time.After(30 * time.Second):
			t.Fatalf("only %v started their fetch: the hosts that have the revision must not wait for a turn", got)
		}
	}
	if !got["web1"] || !got["web2"] || got["web3"] == got["web4"] {
		t.Errorf("first to start: %v; want web1, web2 and one of web3 and web4", got)
	}
	close(release)
	if h := <-started; got[h] {
		t.Errorf("%s started twice", h)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestBranchMovedBetweenFetches: in the script that takes the lock, each
// host fetches and archives the branch as its own fetch resolved it. A
// host that resolved another commit than the first host (a push landed
// between their fetches) fails the deploy, naming both commits; every
// release built is removed and nothing is switched.
func TestBranchMovedBetweenFetches(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	const other = "fedcba9876543210fedcba9876543210fedcba98"
	moved := backend.Rule{Match: "--format=%H %ct", Reply: backend.Reply{Stdout: other + " 1795640100\n"}}
	f, out, err := fleetRun(t, d, testStage("web1", "web2"), Deploy, func(host string) []backend.Rule {
		if host == "web2" {
			return append([]backend.Rule{moved}, standard(host)...)
		}
		return standard(host)
	})
	if err == nil {
		t.Fatalf("deploy succeeded with two commits:\n%s", out)
	}
	for _, want := range []string{"main moved while the servers fetched it", "web1 resolved it to 0123456789abcdef0123456789abcdef01234567", "web2 to " + other, "no release was published"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	for _, h := range []string{"web1", "web2"} {
		cmds := f.log(h)
		if !sentWith(cmds, remote.HasLine("/srv/shop/.capstan/unfinished/20261125214042", "run0001").String()) {
			t.Errorf("%s: deploy:failed did not remove the release:\n%s", h, strings.Join(cmds, "\n"))
		}
		if sentWith(cmds, "switch-run0001/current") {
			t.Errorf("%s: current was switched", h)
		}
	}
}
