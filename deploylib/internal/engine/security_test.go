package engine

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
)

// secLocalRun runs task on one Local server with a log file, and returns the
// console output, the log file and the run's error.
func secLocalRun(t *testing.T, task *Task, opts ...Option) (console, log string, err error) {
	t.Helper()
	d := isolate(t, Config{Application: "app", DeployTo: t.TempDir(), RepoURL: "/nonexistent"})
	logPath := filepath.Join(t.TempDir(), "capstan.log")
	st := Stage{Name: "local", Servers: []Server{{Host: "localhost", Local: true}}}
	var out bytes.Buffer
	opts = append([]Option{WithStage(st), WithOutput(&out), WithColor(false), WithLogFile(logPath)}, opts...)
	err = d.Start(context.Background(), task, opts...)
	b, rerr := os.ReadFile(logPath)
	if rerr != nil {
		t.Fatal(rerr)
	}
	return out.String(), string(b), err
}

// A multi-line secret (a PEM key) printed by a remote command, and carried
// in an error, is redacted line by line on the console, in the log and in
// the error.
func TestMultiLineSecretRedacted(t *testing.T) {
	pem := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nAAAAMwAAAAtzc2gtZWQyNTUxOQAAACDmultiline\n-----END OPENSSH PRIVATE KEY-----"
	s := NewSecret(pem)
	task := testTask("team:pem", func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			if err := h.Execute(ctx, "printf", "%s\n", s.Reveal()); err != nil {
				return err
			}
			if err := h.Execute(ctx, "sh", "-c", `printf '%s\n' "$1" >&2; exit 3`, "sh", s.Reveal()); err != nil {
				return err
			}
			return errors.New("unreachable")
		})
	})
	con, log, err := secLocalRun(t, task)
	if err == nil {
		t.Fatal("the task succeeded")
	}
	for where, text := range map[string]string{"console": con, "log": log, "error": err.Error()} {
		for _, line := range strings.Split(pem, "\n") {
			if strings.Contains(text, line) {
				t.Errorf("%s shows the secret's line %q:\n%s", where, line, text)
			}
		}
	}
	if !strings.Contains(con, "[REDACTED]") {
		t.Errorf("console shows no [REDACTED]:\n%s", con)
	}
}

// A server's escape sequences reach neither the terminal nor the log nor
// the error mage prints: they are shown as text.
func TestHostileRemoteOutputIsText(t *testing.T) {
	task := testTask("team:hostile", func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			return h.Execute(ctx, "sh", "-c", `printf '\033[2J\033]0;pwned\007\n'; printf '\033[32m\342\234\224 Deploy succeeded\r\n' >&2; exit 1`)
		})
	})
	con, log, err := secLocalRun(t, task)
	if err == nil {
		t.Fatal("the task succeeded")
	}
	for where, text := range map[string]string{"console": con, "log": log, "error": err.Error()} {
		if strings.ContainsAny(text, "\x1b\x07") {
			t.Errorf("%s holds raw control characters:\n%q", where, text)
		}
		if !strings.Contains(text, "^[[2J") && where != "error" || !strings.Contains(text, "^[[32m") {
			t.Errorf("%s does not show the sequences as text:\n%s", where, text)
		}
	}
}

// Capture keeps at most MaxCapture bytes, and says so past it.
func TestCaptureIsBounded(t *testing.T) {
	var got string
	var capErr error
	task := testTask("team:huge", func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			got, capErr = h.Capture(ctx, "sh", "-c", "tr '\\000' x </dev/zero | head -c $((16*1024*1024 + 1))")
			return nil
		})
	})
	_, _, err := secLocalRun(t, task)
	if err != nil {
		t.Fatal(err)
	}
	var tl *OutputTooLargeError
	if !errors.As(capErr, &tl) || got != "" {
		t.Fatalf("Capture: %d bytes, %v; want an *OutputTooLargeError", len(got), capErr)
	}
	if tl.Printed != MaxCapture+1 || !strings.Contains(capErr.Error(), "localhost") {
		t.Errorf("error: %v (printed %d)", capErr, tl.Printed)
	}
	// Exactly MaxCapture bytes are fine.
	task = testTask("team:big", func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			got, capErr = h.Capture(ctx, "sh", "-c", "tr '\\000' x </dev/zero | head -c $((16*1024*1024))")
			return capErr
		})
	})
	if _, _, err := secLocalRun(t, task); err != nil || len(got) != MaxCapture {
		t.Errorf("Capture of MaxCapture bytes: %d bytes (trimmed), %v", len(got), err)
	}
}

// BRANCH overrides the configured and the stage's branch, as Capistrano's
// BRANCH=feature-x cap staging deploy does; the console says so and the
// lock records it. One git would read as an option is refused before
// anything runs.
func TestBranchFromEnvironment(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	setenv(d, "BRANCH", "feature-x")
	st := testStage("web1")
	st.Branch = "stable"
	rec, out, err := recorderRun(t, d, st, Check,
		backend.Rule{Match: "ls-remote", Reply: backend.Reply{Stdout: "0123456789abcdef0123456789abcdef01234567\trefs/heads/feature-x\n"}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var lsRemote, lock bool
	for _, c := range rec.Log() {
		if strings.Contains(c.Command, "ls-remote") {
			lsRemote = strings.Contains(c.Command, "feature-x") && !strings.Contains(c.Command, "stable")
		}
		if strings.Contains(c.Stdin+c.Command, "branch=feature-x") {
			lock = true
		}
	}
	if !lsRemote {
		t.Errorf("git:check did not look for feature-x:\n%s", out)
	}
	if !lock {
		t.Errorf("the lock does not record branch feature-x")
	}
	if !strings.Contains(out, "branch feature-x, from BRANCH (the configuration says stable)") {
		t.Errorf("the console does not show the branch:\n%s", out)
	}

	setenv(d, "BRANCH", "--upload-pack=touch /tmp/pwned")
	rec, out, err = recorderRun(t, d, st, Check, gitRules...)
	if err == nil || len(rec.Log()) != 0 {
		t.Errorf("hostile BRANCH: %v, %d commands run\n%s", err, len(rec.Log()), out)
	}
}

// The short lines of a multi-line secret are not redacted everywhere: they
// carry too little of it, and redacting them would mangle unrelated
// output (a test's secret "two\nlines" once turned "The last 20 lines of
// the log" into "The last 20 [REDACTED] of the log").
func TestShortLinesOfASecretNotRedactedAlone(t *testing.T) {
	NewSecret("two\nwords-and-a-long-secret-line")
	if got := redact("The last 20 words of the log"); got != "The last 20 words of the log" {
		t.Errorf("redact = %q", got)
	}
	if got := redact("x words-and-a-long-secret-line y"); got != "x [REDACTED] y" {
		t.Errorf("a long line of the secret is not redacted: %q", got)
	}
}
