package engine

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
)

// TestRunDialsEveryHostAsItStarts checks that a run connects to every
// host before its first task needs one: a hook that runs before anything
// is sent sees every host dialed.
func TestRunDialsEveryHostAsItStarts(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	hosts := []string{"web1", "web2", "web3"}
	rec := backend.NewRecorder("", gitRules...)
	var mu sync.Mutex
	dialed := map[string]bool{}
	all := make(chan struct{})
	dial := func(ctx context.Context, s Server) (backend.Conn, error) {
		mu.Lock()
		defer mu.Unlock()
		dialed[s.Host] = true
		if len(dialed) == len(hosts) {
			close(all)
		}
		return rec.ForHost(s.Host), nil
	}
	BeforeIn(d, Starting, func(ctx context.Context) error {
		if n := len(rec.Log()); n != 0 {
			t.Errorf("%d commands ran before deploy:starting", n)
		}
		select {
		case <-all:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("not every host was dialed as the run started")
		}
	})
	var out bytes.Buffer
	err := d.Start(context.Background(), Deploy, WithStage(testStage(hosts...)), WithOutput(&out), WithColor(false),
		WithClock(fixedClock(0)), WithDialer(dial))
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
}

// TestDialFailureReportedAtFirstCommand checks that a host that cannot be
// reached fails the first task that sends it a command, naming the host
// and the dial's error, as when hosts were dialed on first use.
func TestDialFailureReportedAtFirstCommand(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	rec := backend.NewRecorder("", gitRules...)
	dial := func(ctx context.Context, s Server) (backend.Conn, error) {
		if s.Host == "web2" {
			return nil, errors.New("connection refused (test)")
		}
		return rec.ForHost(s.Host), nil
	}
	var out bytes.Buffer
	err := d.Start(context.Background(), Deploy, WithStage(testStage("web1", "web2", "web3")), WithOutput(&out),
		WithColor(false), WithClock(fixedClock(0)), WithDialer(dial))
	if err == nil {
		t.Fatalf("deploy succeeded with web2 unreachable\n%s", out.String())
	}
	var te *TaskError
	if !errors.As(err, &te) || te.Task != GitCheck.name {
		t.Errorf("error %v: want a failure of %s, the first task with a command", err, GitCheck.name)
	}
	if msg := err.Error(); !strings.Contains(msg, "web2") || !strings.Contains(msg, "connection refused (test)") {
		t.Errorf("error %q does not name web2 and the dial's error", msg)
	}
	for _, c := range rec.Log() {
		if c.Host == "web2" {
			t.Errorf("a command ran on web2: %s", c.Command)
		}
	}
}
