package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
)

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret("hunter2-secret-value")
	if s.Reveal() != "hunter2-secret-value" {
		t.Fatalf("Reveal() = %q", s.Reveal())
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "token", s)
	j, _ := json.Marshal(map[string]any{"token": s})
	txt, _ := s.MarshalText()
	type wrapper struct{ Token Secret }
	for _, got := range []string{
		fmt.Sprint(s), fmt.Sprintf("%s %v %+v %#v %q %x %d", s, s, s, s, s, s, s), fmt.Sprintf("%v %+v %#v", wrapper{s}, wrapper{s}, wrapper{s}),
		s.String(), string(j), string(txt), logged.String(),
	} {
		if strings.Contains(got, "hunter2") {
			t.Errorf("the secret printed: %q", got)
		}
	}
	if (Secret{}).IsZero() != true || s.IsZero() {
		t.Error("IsZero")
	}
}

func TestRedact(t *testing.T) {
	v := "s3cr3t/with+chars=&"
	NewSecret(v)
	NewSecret("abc") // too short to redact in output
	for in, want := range map[string]string{
		"token " + v + " end":                                  "token [REDACTED] end",
		"escaped " + url.QueryEscape(v):                        "escaped [REDACTED]",
		"b64 " + base64.StdEncoding.EncodeToString([]byte(v)):  "b64 [REDACTED]",
		"https://deploy:tok3n@git.example.com/acme/shop.git":   "https://deploy:[REDACTED]@git.example.com/acme/shop.git",
		"git@github.com:acme/shop.git and ssh://git@host/repo": "git@github.com:acme/shop.git and ssh://git@host/repo",
		"abc stays": "abc stays",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
	// Start's errors are redacted as mage prints them.
	if got := (&runError{err: fmt.Errorf("failed with %s", v)}).Error(); strings.Contains(got, v) {
		t.Errorf("runError leaks: %q", got)
	}
}

// A secret environment variable travels on standard input, never on the
// command line, and is redacted from the console.
func TestSecretEnvTravelsOnStdin(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	tok := NewSecret("tok-9f8e7d6c5b4a")
	task := d.NewTask("team:notify", "", func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			return h.WithEnv("PLAIN", "p").WithSecretEnv("API_TOKEN", tok).WithSecretEnv("OTHER", NewSecret("other-secret-1")).
				Within("/srv/shop").Execute(ctx, "curl", "-H", "x")
		})
	})
	BeforeIn(d, Check, task)
	rec, out, err := recorderRun(t, d, testStage("web1"), Check, append([]backend.Rule{
		{Match: "curl", Reply: backend.Reply{Stdout: "echoed tok-9f8e7d6c5b4a\n", Stderr: "and other-secret-1\n"}},
	}, gitRules...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var found bool
	for _, c := range rec.Log() {
		if !strings.Contains(c.Command, "curl") {
			continue
		}
		found = true
		if strings.Contains(c.Command, "tok-9f8e") || strings.Contains(c.Command, "other-secret") {
			t.Errorf("the secret is on the command line: %s", c.Command)
		}
		if !strings.HasPrefix(c.Command, "IFS= read -r API_TOKEN && IFS= read -r OTHER && export API_TOKEN OTHER && {\n") {
			t.Errorf("command = %q", c.Command)
		}
		if c.Stdin != "tok-9f8e7d6c5b4a\nother-secret-1\n" {
			t.Errorf("stdin = %q", c.Stdin)
		}
	}
	if !found {
		t.Fatal("the command did not run")
	}
	if strings.Contains(out, "tok-9f8e") || strings.Contains(out, "other-secret") || !strings.Contains(out, "echoed [REDACTED]") {
		t.Errorf("console:\n%s", out)
	}
}

func TestSecretEnvRefusesNewlines(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	task := d.NewTask("team:x", "", func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			return h.WithSecretEnv("K", NewSecret("two\nlines-of-one-secret")).Execute(ctx, "true")
		})
	})
	BeforeIn(d, Check, task)
	rec, _, err := recorderRun(t, d, testStage("web1"), Check, gitRules...)
	if err == nil || !strings.Contains(err.Error(), "contains a newline") {
		t.Fatalf("error = %v", err)
	}
	for _, c := range rec.Log() {
		if strings.Contains(c.Command, "true") && !strings.Contains(c.Command, "lock") {
			t.Errorf("the command ran: %s", c.Command)
		}
	}
}

// On this machine (the Local backend) the secret reaches the command
// intact while no process's command line ever holds it.
func TestSecretEnvNotInPs(t *testing.T) {
	t.Parallel()
	d := isolate(t, Config{Application: "app", DeployTo: t.TempDir(), RepoURL: "/nonexistent"})
	canary := "canary-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-x"
	secret := NewSecret(canary)
	sum := sha256.Sum256([]byte(canary))
	var leaks []string
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			ents, _ := os.ReadDir("/proc")
			for _, e := range ents {
				if c, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && bytes.Contains(c, []byte(canary)) {
					mu.Lock()
					leaks = append(leaks, string(c))
					mu.Unlock()
				}
			}
		}
	}()
	var got string
	task := d.NewTask("team:secret", "", func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			var err error
			got, err = h.WithSecretEnv("TOKEN", secret).Capture(ctx, "sh", "-c", `sleep 0.3; printf %s "$TOKEN" | sha256sum`)
			return err
		})
	})
	st := Stage{Name: "local", Servers: []Server{{Host: "localhost", Local: true}}}
	var out bytes.Buffer
	err := d.Start(context.Background(), task, WithStage(st), WithOutput(&out), WithColor(false), WithLogFile(""))
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.HasPrefix(got, hex.EncodeToString(sum[:])) {
		t.Errorf("the command got another value: sha256 %q", got)
	}
	if len(leaks) > 0 {
		t.Errorf("the secret was on a command line: %q", leaks[0])
	}
}
