//go:build unix

package sshbackend_test

import (
	"context"
	"errors"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
	"github.com/capstan-deploy/capstan/deploylib/lab"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Dial opens the command shell in the background (shell.go,
// openShellEarly): the first command finds it open, or waits for it.

// shellEvents records the command shell's test hook events and can hold
// one of them until released.
type shellEvents struct {
	mu      sync.Mutex
	seen    map[string]chan struct{}
	holdAt  string        // the event held, if any
	release chan struct{} // closed to let it go on
	refuse  atomic.Int32  // shell-exec refusals still to make
}

func newShellEvents(holdAt string) *shellEvents {
	return &shellEvents{seen: map[string]chan struct{}{}, holdAt: holdAt, release: make(chan struct{})}
}

func (e *shellEvents) ch(event string) chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.seen[event]
	if c == nil {
		c = make(chan struct{})
		e.seen[event] = c
	}
	return c
}

func (e *shellEvents) hook(event string) error {
	c := e.ch(event)
	e.mu.Lock()
	select {
	case <-c:
	default:
		close(c)
	}
	e.mu.Unlock()
	if event == e.holdAt {
		<-e.release
	}
	if event == "shell-exec" && e.refuse.Add(-1) >= 0 {
		return errors.New("refused by the test")
	}
	return nil
}

// await waits for event's first occurrence.
func (e *shellEvents) await(t *testing.T, event string) {
	t.Helper()
	select {
	case <-e.ch(event):
	case <-time.After(20 * time.Second):
		t.Fatalf("no %s event within 20s", event)
	}
}

// TestShellOpenAfterDial checks that Dial opens the command shell by
// itself: the first command runs there, with no session opened for it.
func TestShellOpenAfterDial(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	h := l.Hosts[0]
	ev := newShellEvents("")
	c := dial(t, sshbackend.WithTestHook(l.SSHConfig(h), ev.hook))
	ev.await(t, "shell-opened")
	if n := sshbackend.SessionsOpened(c); n != 1 {
		t.Fatalf("%d sessions opened once Dial's opening was done, want 1 (the command shell)", n)
	}
	for i := range 2 {
		if o, _, err := run(context.Background(), c, shell.New("echo", "ok")); err != nil || o != "ok\n" {
			t.Fatalf("run %d: %q, %v", i, o, err)
		}
	}
	if got, logged := sshbackend.SessionsOpened(c), sshdSessions(h); got != 1 || logged != 1 {
		t.Errorf("after two commands: %d sessions opened (sshd started %d), want 1: the shell opened by Dial", got, logged)
	}
}

// TestRunWaitsForShellOpening checks that a command arriving while Dial's
// opening of the command shell is under way waits for it and runs there,
// rather than opening a session of its own.
func TestRunWaitsForShellOpening(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	h := l.Hosts[0]
	ev := newShellEvents("shell-opening")
	c := dial(t, sshbackend.WithTestHook(l.SSHConfig(h), ev.hook))
	ev.await(t, "shell-opening")
	errc := make(chan error, 1)
	var out strings.Builder
	go func() {
		errc <- c.Run(context.Background(), shell.New("echo", "ok"), backend.Stdio{Stdout: &out})
	}()
	ev.await(t, "shell-wait")
	close(ev.release)
	if err := <-errc; err != nil || out.String() != "ok\n" {
		t.Fatalf("Run: %q, %v", out.String(), err)
	}
	if got, logged := sshbackend.SessionsOpened(c), sshdSessions(h); got != 1 || logged != 1 {
		t.Errorf("%d sessions opened (sshd started %d), want 1: the command should wait for the shell being opened", got, logged)
	}
}

// TestShellOpeningRefused checks a server that refuses the command shell
// that Dial opens (the exec request): the commands run in sessions of
// their own, as when a command's own opening of the shell is refused, and
// succeed.
func TestShellOpeningRefused(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	ev := newShellEvents("")
	ev.refuse.Store(1)
	var logged strings.Builder
	var logMu sync.Mutex
	cfg := sshbackend.WithTestHook(l.SSHConfig(l.Hosts[0]), ev.hook)
	cfg.Logf = func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		logged.WriteString(strings.TrimSpace(format) + "\n")
	}
	c := dial(t, cfg)
	ev.await(t, "shell-opened")
	for i := range 2 {
		if o, _, err := run(context.Background(), c, shell.New("echo", "ok")); err != nil || o != "ok\n" {
			t.Fatalf("run %d after the refusal: %q, %v", i, o, err)
		}
	}
	// The refused shell's session, then one per command: the shell is off.
	if n := sshbackend.SessionsOpened(c); n != 3 {
		t.Errorf("%d sessions opened, want 3 (the refused shell, one per command)", n)
	}
	if n := ev.refuse.Load(); n != 0 {
		t.Errorf("%d more command shells were tried after the refusal, want none", -n)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logged.String(), "no command shell") {
		t.Errorf("the refusal was not logged: %q", logged.String())
	}
}

// TestCloseWhileShellOpens checks that Close during Dial's opening of the
// command shell ends the opening, fails the command waiting for it, and
// leaves none of the connection's goroutines behind.
func TestCloseWhileShellOpens(t *testing.T) {
	l := lab.Start(t, lab.Options{})
	ev := newShellEvents("shell-exec")
	var c *sshbackend.Conn
	errc := make(chan error, 1)
	pprof.Do(context.Background(), pprof.Labels("idle-test", t.Name()), func(ctx context.Context) {
		c = dial(t, sshbackend.WithTestHook(l.SSHConfig(l.Hosts[0]), ev.hook))
		go func() { errc <- c.Run(ctx, shell.New("true"), backend.Stdio{}) }()
	})
	ev.await(t, "shell-exec") // the session is open, its exec request not sent
	ev.await(t, "shell-wait")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	close(ev.release)
	if err := <-errc; !errors.Is(err, sshbackend.ErrClosed) {
		t.Errorf("Run waiting for the shell when the connection closed: %v, want ErrClosed", err)
	}
	ev.await(t, "shell-opened")
	if !eventually(5*time.Second, func() bool { return len(labeledStacks(t, t.Name())) == 0 }) {
		t.Errorf("goroutines left after Close during the shell's opening:\n%s", strings.Join(labeledStacks(t, t.Name()), "\n\n"))
	}
}
