package lab_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// TestNewAndCloseWithoutTest runs a lab through the API that needs no
// testing.TB: New, the hosts' Execute and Capture, and Close, which stops
// every process and removes Dir, once.
func TestNewAndCloseWithoutTest(t *testing.T) {
	t.Parallel()
	lab.Require(t)
	ctx := context.Background()
	l, err := lab.New(ctx, lab.Options{Hosts: 2})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			l.Close()
		}
	}()
	for _, h := range l.Hosts {
		who, err := h.Capture(ctx, "id", "-un")
		if err != nil || who != l.User {
			t.Errorf("%s: logged in as %q (%v), want %q", h.Name, who, err, l.User)
		}
	}
	h := l.Hosts[1]
	if err := h.Execute(ctx, "mkdir", "-p", h.DeployTo+"/shared"); err != nil {
		t.Fatal(err)
	}
	if got, err := h.Capture(ctx, "ls", h.DeployTo); err != nil || got != "shared" {
		t.Errorf("ls %s: %q, %v", h.DeployTo, got, err)
	}
	if n := processesMentioning(l.Dir); n == 0 {
		t.Fatalf("no process mentions the lab's directory %s: cannot check Close", l.Dir)
	}

	closed = true
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if n := processesMentioning(l.Dir); n != 0 {
		t.Errorf("%d processes of the lab survived Close", n)
	}
	if _, err := os.Stat(l.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Close left %s: %v", l.Dir, err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCaptureFailureSaysWhatFailed: a command that fails on a host gives
// an error naming the host, the command, its status and its stderr.
func TestCaptureFailureSaysWhatFailed(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	h := l.Hosts[0]
	_, err := h.Capture(t.Context(), "sh", "-c", "echo out; echo no such release >&2; exit 3")
	if err == nil {
		t.Fatal("a command exiting 3 succeeded")
	}
	t.Logf("Capture: %v", err)
	for _, want := range []string{"host1", "exit 3", "no such release", "status 3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestNewCancelledLeavesNothing: a start cut short by its context fails
// with the context's error and leaves no process and no directory.
func TestNewCancelledLeavesNothing(t *testing.T) {
	lab.Require(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l, err := lab.New(ctx, lab.Options{Hosts: 2})
	if err == nil {
		l.Close()
		t.Fatal("New with a cancelled context succeeded")
	}
	t.Logf("New: %v", err)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want one wrapping context.Canceled", err)
	}
	if n := processesMentioning(tmp); n != 0 {
		t.Errorf("%d processes of the failed lab are running", n)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("the failed lab left %d entries in %s", len(ents), tmp)
	}
}

// processesMentioning counts the processes whose command line or
// environment holds s: the lab's sshds name their configuration in Dir,
// and every command they run has Dir in its environment.
func processesMentioning(s string) int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		for _, f := range []string{"cmdline", "environ"} {
			b, err := os.ReadFile("/proc/" + e.Name() + "/" + f)
			if err == nil && strings.Contains(string(b), s) {
				n++
				break
			}
		}
	}
	return n
}
