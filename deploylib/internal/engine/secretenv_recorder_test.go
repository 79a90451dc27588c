package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
)

// A secret environment variable that cannot work is a configuration
// error, before anything runs.
func TestSecretEnvValidation(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		edit func(*Config, *Stage)
		want string
	}{
		{"bad name", func(c *Config, _ *Stage) { c.SecretEnv = map[string]Secret{"A-B": NewSecret("validation-secret-1")} }, `SecretEnv: "A-B" is not a valid variable name`},
		{"also in Env", func(c *Config, s *Stage) {
			c.Env = map[string]string{"TOKEN": "x"}
			s.SecretEnv = map[string]Secret{"TOKEN": NewSecret("validation-secret-2")}
		}, "TOKEN is in both Env and SecretEnv"},
		{"newline", func(c *Config, _ *Stage) {
			c.SecretEnv = map[string]Secret{"PEM": NewSecret("validation-secret-3\nline-two-of-the-secret")}
		}, "SecretEnv: PEM contains a newline"},
		{"zero", func(c *Config, _ *Stage) { c.SecretEnv = map[string]Secret{"EMPTY": {}} }, "SecretEnv: EMPTY is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, st := testConfig(), testStage("web1")
			tt.edit(&cfg, &st)
			d := isolate(t, cfg)
			rec, out, err := recorderRun(t, d, st, Check, gitRules...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q\n%s", err, tt.want, out)
			}
			if n := len(rec.Log()); n != 0 {
				t.Errorf("%d commands ran", n)
			}
		})
	}
}

// A single command gets the configuration's secret variables on its
// standard input, in name order, before a host's own (which win over one
// of the same name), and the command line holds only the names.
func TestSecretEnvSingleCommand(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.SecretEnv = map[string]Secret{"B_TOKEN": NewSecret("single-secret-b"), "A_TOKEN": NewSecret("single-secret-a"), "C_TOKEN": NewSecret("single-secret-c-config")}
	d := isolate(t, cfg)
	task := d.NewTask("team:tokens", "", func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			return h.WithSecretEnv("C_TOKEN", NewSecret("single-secret-c-host")).Execute(ctx, "deploy-tool", "run")
		})
	})
	rec, out, err := recorderRun(t, d, testStage("web1"), task)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var found *backend.Record
	for _, c := range rec.Log() {
		if strings.Contains(c.Command, "deploy-tool run") {
			found = &c
		}
	}
	if found == nil {
		t.Fatalf("the command did not run:\n%s", out)
	}
	if want := "single-secret-a\nsingle-secret-b\nsingle-secret-c-host\n"; found.Stdin != want {
		t.Errorf("stdin = %q, want %q", found.Stdin, want)
	}
	if strings.Contains(found.Command, "single-secret") || !strings.Contains(found.Command, "IFS= read -r A_TOKEN && IFS= read -r B_TOKEN && IFS= read -r C_TOKEN") {
		t.Errorf("command line: %s", found.Command)
	}
	if strings.Contains(out, "single-secret") {
		t.Errorf("console:\n%s", out)
	}
}

// The scripts that run several tasks at once get Config.SecretEnv too:
// the values on the script's standard input, only the names in the
// script, and the script is still one of steps (each step answered).
func TestSecretEnvPlannedScript(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.SecretEnv = map[string]Secret{"DEPLOY_TOKEN": NewSecret("planned-secret-token")}
	d := isolate(t, cfg)
	rec, out, err := recorderRun(t, d, testStage("web1"), Deploy, gitRules...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	scripts := 0
	for _, c := range rec.Log() {
		if strings.Contains(c.Command, "planned-secret") {
			t.Errorf("a command line holds the value: %s", c.Command)
		}
		if !strings.Contains(c.Command, "capstan-step:") {
			continue
		}
		scripts++
		if !strings.HasPrefix(c.Command, "IFS= read -r DEPLOY_TOKEN && export DEPLOY_TOKEN && {\n") || c.Stdin != "planned-secret-token\n" {
			t.Errorf("script without the secret variable (stdin %q):\n%s", c.Stdin, c.Command)
		}
	}
	if scripts == 0 {
		t.Fatalf("no script of steps was sent:\n%s", transcript(rec))
	}
	if strings.Contains(out, "planned-secret") {
		t.Errorf("console:\n%s", out)
	}
}
