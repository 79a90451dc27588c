package deploylib

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secLocalRun runs task on one Local server with a log file, and returns the
// console output, the log file and the run's error.
func secLocalRun(t *testing.T, task *Task, opts ...Option) (console, log string, err error) {
	t.Helper()
	isolate(t, Config{Application: "app", DeployTo: t.TempDir(), RepoURL: "/nonexistent"})
	logPath := filepath.Join(t.TempDir(), "capstan.log")
	st := Stage{Name: "local", Servers: []Server{{Host: "localhost", Local: true}}}
	var out bytes.Buffer
	opts = append([]Option{WithStage(st), WithOutput(&out), WithColor(false), WithLogFile(logPath)}, opts...)
	err = Start(context.Background(), task, opts...)
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
	task := NewTask("team:pem", "", func(ctx context.Context) error {
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
