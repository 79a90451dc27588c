//go:build unix

package backend

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

func TestLocalRun(t *testing.T) {
	tests := []struct {
		name       string
		script     string
		stdin      string
		wantOut    string
		wantStatus int    // 0: success
		wantSignal string // for a shell killed by a signal
	}{
		{name: "success", script: "echo hello", wantOut: "hello\n"},
		{name: "stdin", script: "tr a-z A-Z", stdin: "shout\n", wantOut: "SHOUT\n"},
		{name: "exit status", script: "echo partial; exit 3", wantOut: "partial\n", wantStatus: 3},
		{name: "killed", script: "kill -KILL $$", wantStatus: 128 + 9, wantSignal: "KILL"},
		{name: "terminated", script: "kill -TERM $$", wantStatus: 128 + 15, wantSignal: "TERM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			err := (&Local{}).Run(context.Background(), shell.Raw(tc.script), Stdio{Stdin: strings.NewReader(tc.stdin), Stdout: &out})
			if out.String() != tc.wantOut {
				t.Errorf("stdout %q, want %q", out.String(), tc.wantOut)
			}
			if tc.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				return
			}
			var ee *ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("Run: %v (%T), want an *ExitError", err, err)
			}
			if ee.Status != tc.wantStatus || ee.Signal != tc.wantSignal {
				t.Errorf("ExitError{Status: %d, Signal: %q}, want {%d, %q}", ee.Status, ee.Signal, tc.wantStatus, tc.wantSignal)
			}
		})
	}
}

// TestLocalAvailable: /bin/sh exists on every Unix this runs on.
func TestLocalAvailable(t *testing.T) {
	if err := LocalAvailable(); err != nil {
		t.Fatalf("LocalAvailable: %v", err)
	}
}

// TestLocalCancelKillsProcessGroup: cancelling a command stops what the
// shell started too. The background sleep holds a pipe the test owns; the
// pipe reaches end of file only once the sleep has exited.
func TestLocalCancelKillsProcessGroup(t *testing.T) {
	held, holder, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stdoutW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := (&Local{}).Run(ctx, shell.Raw("sleep 300 & echo started; wait"), Stdio{Stdout: stdoutW, Stderr: holder})
		stdoutW.Close()
		done <- err
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "started\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	go io.Copy(io.Discard, stdout)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel: %v, want it to wrap context.Canceled", err)
	}
	holder.Close()
	// A deadline only so that a failure does not hang the suite.
	held.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := io.ReadAll(held); err != nil {
		t.Errorf("the background sleep still holds its standard error: %v", err)
	}
}
