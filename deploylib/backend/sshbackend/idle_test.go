package sshbackend_test

import (
	"bytes"
	"context"
	"errors"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
	"github.com/capstan-deploy/capstan/deploylib/lab"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// labeledStacks returns the stacks of the goroutines labelled
// idle-test=id (goroutines inherit their creator's labels), one string
// per group of identical stacks.
func labeledStacks(t *testing.T, id string) []string {
	t.Helper()
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, g := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(g, `"idle-test":"`+id+`"`) {
			found = append(found, g)
		}
	}
	return found
}

// TestIdleConnectionHoldsNoWaiters checks that a connection whose command
// shell is idle between commands holds no goroutine waiting for the
// shell's exit status (it is waited for once the shell's streams end),
// none for the keepalives (a timer sends them), and one goroutine, not
// two, for the server's global requests and the connection's end:
// goroutines and their stacks are a large part of the client's memory per
// host at a thousand hosts. The connection still runs commands and keeps
// alive.
func TestIdleConnectionHoldsNoWaiters(t *testing.T) {
	l := lab.Start(t, lab.Options{})
	cfg := l.SSHConfig(l.Hosts[0])
	// Wide enough that a loaded machine answers within 3 intervals: the
	// keepalives must be answered, not raced.
	cfg.KeepAliveInterval = 200 * time.Millisecond
	var c *sshbackend.Conn
	pprof.Do(context.Background(), pprof.Labels("idle-test", t.Name()), func(ctx context.Context) {
		c = dial(t, cfg)
		if err := c.Run(ctx, shell.New("true"), backend.Stdio{}); err != nil {
			t.Fatal(err)
		}
	})
	waiting := 0 // goroutines waiting for the connection's end
	for _, g := range labeledStacks(t, t.Name()) {
		for _, f := range []string{"ssh.(*Session).Wait", "sshbackend.(*Conn).keepAlive", "ssh.(*Client).handleGlobalRequests"} {
			if strings.Contains(g, f) {
				t.Errorf("an idle connection holds a goroutine in %s:\n%s", f, g)
			}
		}
		if strings.Contains(g, "ssh.(*mux).Wait") {
			waiting++
		}
	}
	if waiting > 1 {
		t.Errorf("%d goroutines wait for the connection's end, want 1 (x/crypto's own)", waiting)
	}
	// A command that outlasts several keepalive intervals: it fails if
	// their answers go unnoticed (3 missed intervals close the connection).
	var out bytes.Buffer
	if err := c.Run(context.Background(), shell.Raw("sleep 1.2; echo alive"), backend.Stdio{Stdout: &out}); err != nil || out.String() != "alive\n" {
		t.Errorf("Run across keepalives: %q, %v", out.String(), err)
	}
}

// signalWriter closes started at its first write.
type signalWriter struct {
	once    sync.Once
	started chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.started) })
	return len(p), nil
}

// TestRunningCommandGoroutines checks the goroutines that a connection
// holds while a command runs in its command shell: x/crypto's three for
// the connection (reading, key exchange, demultiplexing), one for what the
// server sends besides data (global requests, channel opens, the
// session's requests), and one per output stream. x/crypto's Client and
// Session would add three more (channel opens, the connection's end, the
// session's requests): at a thousand hosts, each goroutine per host costs
// about 4 MB of stacks.
func TestRunningCommandGoroutines(t *testing.T) {
	l := lab.Start(t, lab.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &signalWriter{started: make(chan struct{})}
	done := make(chan error, 1)
	pprof.Do(ctx, pprof.Labels("idle-test", t.Name()), func(ctx context.Context) {
		c := dial(t, l.SSHConfig(l.Hosts[0]))
		go func() {
			done <- c.Run(ctx, shell.Raw("echo started; sleep 30"), backend.Stdio{Stdout: w})
		}()
	})
	select {
	case <-w.started:
	case err := <-done:
		t.Fatalf("Run ended before the command started: %v", err)
	}
	var conn []string // the connection's goroutines
	for _, g := range labeledStacks(t, t.Name()) {
		if strings.Contains(g, "sshbackend.(*Conn).Run") || strings.Contains(g, "sshbackend.writeScript") {
			continue // the caller's, and the script's writer on its way out
		}
		for _, f := range []string{"ssh.(*Session).wait", "ssh.(*Client).handleChannelOpens", "ssh.(*mux).Wait"} {
			if strings.Contains(g, f) {
				t.Errorf("a connection running a command holds a goroutine in %s:\n%s", f, g)
			}
		}
		n, _ := strconv.Atoi(strings.Fields(g)[0]) // "N @ 0x..."
		for range n {
			conn = append(conn, g)
		}
	}
	if len(conn) > 6 {
		t.Errorf("a connection running a command holds %d goroutines, want at most 6:\n%s", len(conn), strings.Join(conn, "\n\n"))
	}
	cancel()
	if err := <-done; err == nil {
		t.Error("Run of a cancelled command returned nil")
	}
}

// TestShellKilled checks the error of a command whose command shell is
// killed under it: the session's exit signal, which the connection's
// goroutine takes, is named; the next command opens a new shell.
func TestShellKilled(t *testing.T) {
	_, _, c := startOne(t)
	_, _, err := run(context.Background(), c, shell.Raw("kill -KILL 0"))
	var ee *backend.ExitError
	if !errors.As(err, &ee) || ee.Status != -1 || !strings.Contains(err.Error(), "the command shell ended before the command did (killed by signal KILL)") {
		t.Errorf("Run of a command that kills its shell: %v, want the shell's end killed by signal KILL", err)
	}
	if out, _, err := run(context.Background(), c, shell.Raw("echo again")); err != nil || out != "again\n" {
		t.Errorf("the next Run: %q, %v", out, err)
	}
}
