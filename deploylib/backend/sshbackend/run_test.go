package sshbackend_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
	"github.com/capstan-deploy/capstan/deploylib/lab"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

func TestRun(t *testing.T) {
	t.Parallel()
	_, h, c := startOne(t)
	tests := []struct {
		name       string
		cmd        shell.Command
		stdin      string
		wantOut    string
		wantErrOut string
		wantStatus int // 0: success
		wantSignal string
	}{
		{name: "stdout and stderr apart", cmd: shell.Raw("echo out; echo err >&2; echo out2"),
			wantOut: "out\nout2\n", wantErrOut: "err\n"},
		{name: "quoted arguments", cmd: shell.New("printf", "[%s]\\n", "a b", "$HOME", "it's"),
			wantOut: "[a b]\n[$HOME]\n[it's]\n"},
		{name: "environment by export, directory by cd", cmd: shell.Raw(`echo "$GREETING from $(pwd)"`).
			WithEnv("GREETING", "hi there").In("/"), wantOut: "hi there from /\n"},
		{name: "stdin", cmd: shell.New("tr", "a-z", "A-Z"), stdin: "hello\n", wantOut: "HELLO\n"},
		{name: "no trailing newline", cmd: shell.New("printf", "x"), wantOut: "x"},
		{name: "exit status", cmd: shell.Raw("echo partial; exit 3"), wantOut: "partial\n", wantStatus: 3},
		{name: "command not found", cmd: shell.New("capstan-no-such-command"), wantStatus: 127},
		{name: "killed by a signal", cmd: shell.Raw("kill -9 $$"), wantStatus: 137, wantSignal: "KILL"},
		{name: "child killed by a signal", cmd: shell.Raw("sh -c 'kill -TERM $$'; exit $?"), wantStatus: 143},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdio backend.Stdio
			var out, errOut strings.Builder
			stdio.Stdout, stdio.Stderr = &out, &errOut
			if tt.stdin != "" {
				stdio.Stdin = strings.NewReader(tt.stdin)
			}
			err := c.Run(context.Background(), tt.cmd, stdio)
			if out.String() != tt.wantOut {
				t.Errorf("stdout %q, want %q", out.String(), tt.wantOut)
			}
			if tt.wantErrOut != "" && errOut.String() != tt.wantErrOut {
				t.Errorf("stderr %q, want %q", errOut.String(), tt.wantErrOut)
			}
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Run: %v (stderr %q)", err, errOut.String())
				}
				return
			}
			var ee *backend.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("Run error %v (%T), want *backend.ExitError", err, err)
			}
			if ee.Status != tt.wantStatus || ee.Signal != tt.wantSignal {
				t.Errorf("ExitError %+v, want status %d signal %q", ee, tt.wantStatus, tt.wantSignal)
			}
		})
	}
	if strings.Contains(h.Log(), "setenv") {
		t.Errorf("an environment variable went through an SSH env request")
	}
}

func TestRunConcurrentOnOneConnection(t *testing.T) {
	t.Parallel()
	_, _, c := startOne(t)
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	outs := make([]string, n)
	for i := range n {
		wg.Go(func() {
			outs[i], _, errs[i] = run(context.Background(), c, shell.Raw(fmt.Sprintf("sleep 0.2; echo %d", i)))
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || outs[i] != fmt.Sprintf("%d\n", i) {
			t.Errorf("command %d: %q, %v", i, outs[i], errs[i])
		}
	}
}

func TestCancelStopsRemoteCommand(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	h := l.Hosts[0]
	users := []string{l.User}
	if os.Geteuid() == 0 {
		users = append(users, "root") // OpenSSH < 10 ignores signal requests for root
	}
	for _, user := range users {
		t.Run(user, func(t *testing.T) {
			cfg := l.SSHConfig(h)
			cfg.User = user
			c := dial(t, cfg)
			// The pipeline's processes share the marker, the shell's child
			// and grandchild included.
			marker := fmt.Sprintf("3%d.%06d", rand.IntN(1000), rand.IntN(1000000))
			cmd := shell.Raw(fmt.Sprintf("sleep %s | sleep %s; echo finished", marker, marker))
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			var out strings.Builder
			go func() { errc <- c.Run(ctx, cmd, backend.Stdio{Stdout: &out}) }()
			// Generous: root's startup files may be slow on a busy machine.
			if !eventually(15*time.Second, func() bool { return len(processes("sleep "+marker)) == 2 }) {
				t.Fatalf("the remote sleeps did not start: %v", processes("sleep "+marker))
			}
			start := time.Now()
			cancel()
			var err error
			select {
			case err = <-errc:
			case <-time.After(15 * time.Second):
				t.Fatal("Run did not return within 15s of the cancel")
			}
			t.Logf("Run returned %v after %s", err, time.Since(start))
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run error %v does not wrap context.Canceled", err)
			}
			if !eventually(5*time.Second, func() bool { return len(processes("sleep "+marker)) == 0 }) {
				t.Errorf("remote processes still running after cancel: %v", processes("sleep "+marker))
			}
			if strings.Contains(out.String(), "finished") || strings.Contains(out.String(), "capstan-pid") {
				t.Errorf("unexpected output %q", out.String())
			}
			// The connection is still good.
			if o, _, err := run(context.Background(), c, shell.New("echo", "ok")); err != nil || o != "ok\n" {
				t.Errorf("after cancel: %q, %v", o, err)
			}
		})
	}
}

func TestCancelEscalatesToKill(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	cfg := l.SSHConfig(l.Hosts[0])
	cfg.StopTimeout = 500 * time.Millisecond
	c := dial(t, cfg)
	marker := fmt.Sprintf("4%d.%06d", rand.IntN(1000), rand.IntN(1000000))
	// Ignored signals are inherited: the whole group ignores SIGTERM.
	cmd := shell.Raw(fmt.Sprintf("trap '' TERM; sleep %s", marker))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx, cmd, backend.Stdio{}) }()
	if !eventually(15*time.Second, func() bool { return len(processes("sleep "+marker)) == 1 }) {
		t.Fatal("the remote sleep did not start")
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run error %v does not wrap context.Canceled", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return")
	}
	if !eventually(5*time.Second, func() bool { return len(processes("sleep "+marker)) == 0 }) {
		t.Errorf("a command ignoring SIGTERM survived: %v", processes("sleep "+marker))
	}
}

func TestCloseStopsRunningCommands(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	c, err := sshbackend.Dial(context.Background(), l.SSHConfig(l.Hosts[0]))
	if err != nil {
		t.Fatal(err)
	}
	marker := fmt.Sprintf("5%d.%06d", rand.IntN(1000), rand.IntN(1000000))
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background(), shell.New("sleep", marker), backend.Stdio{}) }()
	if !eventually(15*time.Second, func() bool { return len(processes("sleep "+marker)) == 1 }) {
		t.Fatal("the remote sleep did not start")
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Errorf("Run succeeded although Close interrupted it")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	if !eventually(5*time.Second, func() bool { return len(processes("sleep "+marker)) == 0 }) {
		t.Errorf("the command survived Close")
	}
}

func TestRunAfterCloseAndCancelledContext(t *testing.T) {
	t.Parallel()
	_, _, c := startOne(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Run(ctx, shell.New("true"), backend.Stdio{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := c.Run(context.Background(), shell.New("true"), backend.Stdio{}); !errors.Is(err, sshbackend.ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
}
