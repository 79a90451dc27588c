package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/internal/enginetest"
	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

func TestInterruptedErrorExitStatus(t *testing.T) {
	for sig, want := range map[syscall.Signal]int{syscall.SIGINT: 130, syscall.SIGTERM: 143, syscall.SIGHUP: 129} {
		var err error = &InterruptedError{Signal: sig, Err: errors.New("x")}
		// mage uses a type assertion, not errors.As: the method must be
		// on the error Start returns.
		es, ok := err.(interface{ ExitStatus() int })
		if !ok || es.ExitStatus() != want {
			t.Errorf("%v: ExitStatus = %v, want %d", sig, es, want)
		}
	}
}

type hookConn = enginetest.HookConn

// hookedRun starts task with a Recorder behind hook on every host.
func hookedRun(t *testing.T, d *Deployment, st Stage, task *Task, hook func(ctx context.Context, host, cmd string) (bool, error), rules ...backend.Rule) (*backend.Recorder, string, error) {
	t.Helper()
	return hookedRunIO(t, d, st, task, func(ctx context.Context, host, cmd string, _ backend.Stdio) (bool, error) {
		return hook(ctx, host, cmd)
	}, rules...)
}

// hookedRunRec is hookedRun that hands the Recorder to seen first.
func hookedRunRec(t *testing.T, d *Deployment, st Stage, task *Task, seen func(*backend.Recorder), hook func(ctx context.Context, host, cmd string) (bool, error), rules ...backend.Rule) (*backend.Recorder, string, error) {
	t.Helper()
	return hookedRunFull(t, d, st, task, seen, func(ctx context.Context, host, cmd string, _ backend.Stdio) (bool, error) {
		return hook(ctx, host, cmd)
	}, rules...)
}

// hookedRunIO is hookedRun with a hook that may answer on stdout.
func hookedRunIO(t *testing.T, d *Deployment, st Stage, task *Task, hook func(ctx context.Context, host, cmd string, stdio backend.Stdio) (bool, error), rules ...backend.Rule) (*backend.Recorder, string, error) {
	t.Helper()
	return hookedRunFull(t, d, st, task, nil, hook, rules...)
}

func hookedRunFull(t *testing.T, d *Deployment, st Stage, task *Task, seen func(*backend.Recorder), hook func(ctx context.Context, host, cmd string, stdio backend.Stdio) (bool, error), rules ...backend.Rule) (*backend.Recorder, string, error) {
	t.Helper()
	rec := backend.NewRecorder("", rules...)
	if seen != nil {
		seen(rec)
	}
	var out syncWriter
	err := d.Start(context.Background(), task, WithStage(st), WithOutput(&out), WithColor(false), WithClock(fixedClock(0)),
		func(o *runOptions) { o.runID = "run0001" }, WithLogFile(""),
		WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) {
			return &hookConn{Recorder: rec.ForHost(s.Host), Hook: hook}, nil
		}))
	return rec, out.String(), err
}

var previousRule = lockTaken("/srv/shop/releases/20261125214038")

const newRelease = "/srv/shop/releases/20261125214042"

// Ctrl-C while web2 switches, after web1 switched: web1 goes back to its
// previous release, the new release is marked unfinished again and
// removed, the lock released, and Start returns exit status 130.
func TestInterruptDuringPublishingSwitchesBack(t *testing.T) {
	d := isolate(t, testConfig())
	start := time.Now()
	var rec *backend.Recorder
	var recMu sync.Mutex
	web1Switched := func(*backend.Recorder) bool {
		recMu.Lock()
		defer recMu.Unlock()
		if rec == nil {
			return false
		}
		for _, c := range rec.Log() {
			if c.Host == "web1" && strings.Contains(c.Command, "ln -s "+newRelease+" ") {
				return true
			}
		}
		return false
	}
	rec2, out, err := hookedRunRec(t, d, testStage("web1", "web2"), Deploy, func(r *backend.Recorder) { recMu.Lock(); rec = r; recMu.Unlock() }, func(ctx context.Context, host, cmd string) (bool, error) {
		if host == "web2" && strings.Contains(cmd, "ln -s "+newRelease+" ") {
			// Once web1 switched, Ctrl-C.
			for !web1Switched(rec) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond)
			deliverSignal(syscall.SIGINT)
			<-ctx.Done()
			return true, fmt.Errorf("stopped: %w", ctx.Err())
		}
		return false, nil
	}, append([]backend.Rule{previousRule}, gitRules...)...)
	rec = rec2
	var ie *InterruptedError
	if !errors.As(err, &ie) || ie.ExitStatus() != 130 {
		t.Fatalf("error = %v, want an InterruptedError (130)\n%s", err, out)
	}
	if err.(interface{ ExitStatus() int }).ExitStatus() != 130 {
		t.Errorf("Start's own error does not have exit status 130")
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	var back, remark, removed, released bool
	for _, c := range rec.Log() {
		switch {
		case c.Host == "web1" && strings.Contains(c.Command, "ln -s /srv/shop/releases/20261125214038 /srv/shop/.capstan/switch-run0001-back/current"):
			back = true
			remark = strings.Contains(c.Command, "mv -f /srv/shop/.capstan/mark-run0001/20261125214042 /srv/shop/.capstan/unfinished/20261125214042")
		case strings.Contains(c.Command, remote.HasLine("/srv/shop/.capstan/unfinished/20261125214042", "run0001").String()+" && rm -rf "+newRelease+" "):
			removed = true
		case c.Host == "web1" && strings.Contains(c.Command, "rm -rf -- /srv/shop/.capstan/lock"):
			released = true
		}
	}
	if !back || !remark || !removed || !released {
		t.Errorf("switched back %v, re-marked unfinished %v, removed %v, lock released %v\n%s", back, remark, removed, released, transcript(rec))
	}
	for _, want := range []string{"SIGINT received", "web1: switched back to /srv/shop/releases/20261125214038", "all hosts serve the same release"} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}
}

// A switch whose connection dropped after the rename is not taken for
// "not switched": the host is asked where current points, found switched,
// and put back like the others.
func TestSwitchLostAfterRenameIsSwitchedBack(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	var mu sync.Mutex
	switched := map[string]bool{}
	rec, out, err := hookedRunIO(t, d, testStage("web1", "web2"), Deploy, func(ctx context.Context, host, cmd string, stdio backend.Stdio) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.Contains(cmd, "ln -s "+newRelease+" "):
			switched[host] = true
			if host == "web2" {
				return true, errors.New("connection lost") // after the rename
			}
		case strings.HasPrefix(cmd, "readlink /srv/shop/current") && switched[host]:
			stdio.Stdout.Write([]byte(newRelease + "\n"))
			return true, nil
		}
		return false, nil
	}, append([]backend.Rule{previousRule}, gitRules...)...)
	if err == nil {
		t.Fatal("deploy succeeded")
	}
	backOn := map[string]bool{}
	for _, c := range rec.Log() {
		if strings.Contains(c.Command, "ln -s /srv/shop/releases/20261125214038 /srv/shop/.capstan/switch-run0001-back/current") {
			backOn[c.Host] = true
		}
	}
	if !backOn["web1"] || !backOn["web2"] {
		t.Errorf("switched back on %v, want web1 and web2\n%s", backOn, out)
	}
	for _, want := range []string{"web2: switched back to", "all hosts serve the same release"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// Every host switched and a later hook fails: the new release stays live
// everywhere (consistent), is not removed, and the report says so.
func TestFailureAfterPublishingKeepsTheRelease(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	AfterIn(d, Published, func(context.Context) error { return errors.New("restart failed") })
	rec, out, err := recorderRun(t, d, testStage("web1", "web2"), Deploy, append([]backend.Rule{previousRule}, gitRules...)...)
	if err == nil {
		t.Fatal("deploy succeeded")
	}
	for _, c := range rec.Log() {
		if strings.Contains(c.Command, "= run0001 && exit 0") || strings.Contains(c.Command, "-back/current") {
			t.Errorf("%s: %s", c.Host, c.Command)
		}
	}
	if !strings.Contains(out, "web1: serves the new release") || !strings.Contains(out, "all hosts serve the same release") {
		t.Errorf("report:\n%s", out)
	}
}

// A panicking hook fails the run like an error: deploy:failed runs and the
// lock is released.
func TestPanickingHookStillCleansUp(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	var tr trace
	AfterIn(d, Failed, tr.hook("failed"))
	AfterIn(d, Updated, func(context.Context) error { panic("boom") })
	rec, _, err := recorderRun(t, d, testStage("web1"), Deploy, gitRules...)
	if err == nil || !strings.Contains(err.Error(), "panic: boom") {
		t.Fatalf("error = %v", err)
	}
	if len(tr.steps) != 1 {
		t.Errorf("deploy:failed ran %d times", len(tr.steps))
	}
	log := rec.Log()
	if !strings.Contains(log[len(log)-1].Command, "rm -rf -- /srv/shop/.capstan/lock") {
		t.Errorf("the lock was not released last:\n%s", transcript(rec))
	}
}

// A second signal abandons a cleanup that hangs; Start returns soon after.
func TestSecondSignalAbandonsTheCleanup(t *testing.T) {
	d := isolate(t, testConfig())
	start := time.Now()
	_, out, err := hookedRun(t, d, testStage("web1"), Deploy, func(ctx context.Context, host, cmd string) (bool, error) {
		switch {
		case strings.Contains(cmd, "ln -s /srv/shop/shared/log"):
			deliverSignal(syscall.SIGTERM)
			<-ctx.Done()
			return true, ctx.Err()
		case strings.Contains(cmd, "= run0001 && exit 0"): // deploy:failed hangs
			deliverSignal(syscall.SIGTERM)
			time.Sleep(30 * time.Second)
			return true, nil
		}
		return false, nil
	}, gitRules...)
	var ie *InterruptedError
	if !errors.As(err, &ie) || ie.ExitStatus() != 143 || !strings.Contains(err.Error(), "abandoned") {
		t.Fatalf("error = %v\n%s", err, out)
	}
	if d := time.Since(start); d > abandonWait+5*time.Second {
		t.Errorf("Start returned after %v", d)
	}
}

// Config.CommandTimeout stops a local command and its children, and says so.
func TestCommandTimeoutLocal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := isolate(t, Config{Application: "app", DeployTo: dir, RepoURL: "/nonexistent", CommandTimeout: 200 * time.Millisecond})
	marker := dir + "/survived"
	task := d.NewTask("team:slow", "", func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			return h.Execute(ctx, "sh", "-c", "sleep 1; touch "+shell.Quote(marker))
		})
	})
	st := Stage{Name: "local", Servers: []Server{{Host: "localhost", Local: true}}}
	start := time.Now()
	err := d.Start(context.Background(), task, WithStage(st), WithOutput(new(bytes.Buffer)), WithLogFile(""))
	var te *TimeoutError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "timed out after 200ms") {
		t.Fatalf("error = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
	time.Sleep(1300 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command kept running after the timeout")
	}
}

// A second signal stops a read-only run from waiting for a command that
// does not stop: it returns at most abandonWait later, interrupted.
func TestSecondSignalStopsWaitingForReadOnly(t *testing.T) {
	d := isolate(t, testConfig())
	release := make(chan struct{})
	defer close(release)
	rec := backend.NewRecorder("", gitRules...)
	var out syncWriter
	start := time.Now()
	// What mage <stage> run "uptime" does (package ops), on a read-only run.
	run := func(ctx context.Context, s *Session) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error { return h.Execute(ctx, "uptime") })
	}
	err := StartReadOnly(context.Background(), "run", []Option{withDeployment(d), WithStage(testStage("web1")), WithOutput(&out), WithColor(false), WithLogFile(""),
		WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) {
			return &hookConn{Recorder: rec.ForHost(s.Host), Hook: func(ctx context.Context, host, cmd string, _ backend.Stdio) (bool, error) {
				deliverSignal(syscall.SIGTERM)
				<-ctx.Done()
				deliverSignal(syscall.SIGTERM)
				<-release // a command that does not stop
				return true, ctx.Err()
			}}, nil
		})}, run)
	var ie *InterruptedError
	if !errors.As(err, &ie) || ie.ExitStatus() != 143 || !strings.Contains(err.Error(), "gave up waiting") {
		t.Fatalf("error = %v\n%s", err, out.String())
	}
	if d := time.Since(start); d > abandonWait+5*time.Second {
		t.Errorf("the run returned after %v", d)
	}
	if o := out.String(); !strings.Contains(o, "SIGTERM received again: no longer waiting for the commands in flight") {
		t.Errorf("console:\n%s", o)
	}
}
