//go:build unix

package ops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// An interrupted run stops the command on the hosts and ends with an
// InterruptedError carrying the signal's exit status: here a local command
// that would run for a minute, interrupted once it has started (it writes
// to a FIFO that the test reads).
func TestRunAdHocInterrupted(t *testing.T) {
	dir := t.TempDir()
	d := isolate(t, engine.Config{Application: "app", DeployTo: filepath.Join(dir, "app"), RepoURL: "/nonexistent"})
	started, signalled := signalOnStart(t, dir, syscall.SIGTERM)
	st := engine.Stage{Name: "local", Servers: []engine.Server{{Host: "localhost", Local: true}}}
	var out syncWriter
	begin := time.Now()
	err := d.RunAdHoc(context.Background(), "echo s > "+shell.Quote(started)+"; sleep 60", engine.WithStage(st), engine.WithOutput(&out), engine.WithColor(false), engine.WithLogFile(""))
	took := time.Since(begin)
	signalled()

	var ie *engine.InterruptedError
	if !errors.As(err, &ie) || ie.ExitStatus() != 143 {
		t.Fatalf("error = %v, want an InterruptedError with exit status 143\n%s", err, out.String())
	}
	if es, ok := err.(interface{ ExitStatus() int }); !ok || es.ExitStatus() != 143 {
		t.Errorf("RunAdHoc's own error does not have exit status 143: %#v", err)
	}
	if took > 30*time.Second {
		t.Errorf("RunAdHoc returned after %v: the command was not stopped", took)
	}
	o := out.String()
	for _, want := range []string{"SIGTERM received: stopping the commands in flight", "✘ 01 localhost", "interrupted by SIGTERM"} {
		if !strings.Contains(o, want) {
			t.Errorf("console lacks %q:\n%s", want, o)
		}
	}
	for _, unwanted := range []string{"run failed", "cleaning up", "deploy lock"} {
		if strings.Contains(o, unwanted) {
			t.Errorf("console says %q:\n%s", unwanted, o)
		}
	}
}

// The ssh target's shell, run as a child (no terminal), is stopped by a
// signal like any command, and the error is an InterruptedError.
func TestShellInterrupted(t *testing.T) {
	dir := t.TempDir()
	d := isolate(t, engine.Config{Application: "app", DeployTo: filepath.Join(dir, "app"), RepoURL: "/nonexistent"})
	started, signalled := signalOnStart(t, dir, syscall.SIGINT)
	script := filepath.Join(dir, "fake-shell")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho s > "+shell.Quote(started)+"\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	setenv(d, "SHELL", script)
	setenv(d, "CAPSTAN_SHELL_NO_EXEC", "1")
	st := engine.Stage{Name: "local", Servers: []engine.Server{{Host: "localhost", Local: true}}}
	var out syncWriter
	begin := time.Now()
	err := d.OpenShell(context.Background(), "", engine.WithStage(st), engine.WithOutput(&out), engine.WithColor(false), engine.WithLogFile(""))
	took := time.Since(begin)
	signalled()

	var ie *engine.InterruptedError
	if !errors.As(err, &ie) || ie.ExitStatus() != 130 {
		t.Fatalf("error = %v, want an InterruptedError with exit status 130\n%s", err, out.String())
	}
	if took > 30*time.Second {
		t.Errorf("OpenShell returned after %v: the shell was not stopped", took)
	}
	if o := out.String(); !strings.Contains(o, "shell on localhost") || !strings.Contains(o, "interrupted by SIGINT") {
		t.Errorf("console:\n%s", o)
	}
}

// signalOnStart makes a FIFO in dir that a command writes "s" to once it
// has started, and delivers sig to the runs in progress when it does. It
// returns the FIFO's path and a function to call once the run returned,
// which waits for the reader (releasing it if the command never started).
func signalOnStart(t *testing.T, dir string, sig syscall.Signal) (string, func()) {
	t.Helper()
	started := filepath.Join(dir, "started")
	if err := syscall.Mkfifo(started, 0o600); err != nil {
		t.Fatal(err)
	}
	// Opened for reading and writing, the FIFO never blocks its opening;
	// a read waits for the command to write.
	fifo, err := os.OpenFile(started, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fifo.Close() })
	signalled := make(chan struct{})
	go func() {
		defer close(signalled)
		b := make([]byte, 1)
		if _, err := fifo.Read(b); err == nil && b[0] == 's' {
			syscall.Kill(os.Getpid(), sig)
		}
	}()
	return started, func() {
		fifo.Write([]byte("x"))
		<-signalled
	}
}

// The doctor, releases and run handle Ctrl-C as a deploy
// does: the command in flight is stopped and the run exits 130.
func TestReadOnlyTargetsHandleInterrupts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(d *engine.Deployment, ctx context.Context, opts ...engine.Option) error
	}{
		{"doctor", (*engine.Deployment).Diagnose},
		{"releases", (*engine.Deployment).ShowReleases},
		{"run", func(d *engine.Deployment, ctx context.Context, opts ...engine.Option) error {
			return d.RunAdHoc(ctx, "uptime", opts...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := isolate(t, testConfig())
			rec := backend.NewRecorder("")
			var out syncWriter
			err := tc.start(d, context.Background(), engine.WithStage(appStage("web1")), engine.WithOutput(&out), engine.WithColor(false), engine.WithLogFile(""),
				engine.WithDialer(func(ctx context.Context, s engine.Server) (backend.Conn, error) {
					return &hookConn{Recorder: rec.ForHost(s.Host), Hook: func(ctx context.Context, host, cmd string, _ backend.Stdio) (bool, error) {
						syscall.Kill(os.Getpid(), syscall.SIGINT)
						<-ctx.Done() // stopped by the signal, not left running
						return true, ctx.Err()
					}}, nil
				}))
			var ie *engine.InterruptedError
			if !errors.As(err, &ie) || ie.ExitStatus() != 130 {
				t.Fatalf("error = %v, want an interrupt with exit status 130\n%s", err, out.String())
			}
		})
	}
}
