package sshbackend_test

import (
	"bytes"
	"context"
	"runtime/pprof"
	"strings"
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
	cfg.KeepAliveInterval = 20 * time.Millisecond
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
	if err := c.Run(context.Background(), shell.Raw("sleep 0.3; echo alive"), backend.Stdio{Stdout: &out}); err != nil || out.String() != "alive\n" {
		t.Errorf("Run across keepalives: %q, %v", out.String(), err)
	}
}
