//go:build unix

package engine

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// TestDeclarativeHookFailsOnLab: a declarative hook fused into the
// deploy's script that fails on one real host fails its task naming that
// host, the command and its exit status; deploy:failed runs; and both
// servers are left as before the run: current where it was, the
// half-built release removed, no lock, nothing unfinished.
func TestDeclarativeHookFailsOnLab(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 2})
	l.RequireSharedDeployTo(t)
	deployTo := path.Join(path.Dir(l.Hosts[0].DeployTo), "declfail")
	for _, h := range l.Hosts {
		if err := os.MkdirAll(filepath.Join(h.Root, "declfail", "shared"), 0o755); err != nil {
			t.Fatal(err)
		}
		chownTree(t, l, filepath.Join(h.Root, "declfail"))
	}
	t.Setenv("USER", "alice")
	for _, k := range []string{"HOSTS", "ROLES", "ROLLBACK_RELEASE", "DRY_RUN", "BRANCH"} {
		t.Setenv(k, "")
	}
	const line = "test ! -e ../../shared/fail-here"
	deploy := func(at time.Time) (string, string, error) {
		d := NewDeployment()
		d.Configure(Config{Application: "app", RepoURL: l.Repo, DeployTo: deployTo})
		AfterIn(d, Updated, d.RemoteSh("app:migrate", "Migrates.", Roles("app"), InRelease, line))
		var out, log bytes.Buffer
		err := d.Start(context.Background(), Deploy, WithStage(labStage(l)), WithOutput(&out), WithColor(false),
			WithClock(func() time.Time { return at }), func(o *runOptions) { o.logW = &log })
		return out.String(), log.String(), err
	}
	at := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	if out, _, err := deploy(at); err != nil {
		t.Fatalf("first deploy: %v\n%s", err, out)
	}
	state := func() string { return serverState(t, l, "declfail", deployTo) }
	before := state()
	bad := l.Hosts[1]
	marker := filepath.Join(bad.Root, "declfail", "shared", "fail-here")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, log, err := deploy(at.Add(time.Minute))
	var te *TaskError
	if !errors.As(err, &te) || te.Task != "app:migrate" {
		t.Fatalf("second deploy: %v, want app:migrate to fail\n%s", err, out)
	}
	for _, want := range []string{bad.Addr, line, "exit status 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), l.Hosts[0].Addr) {
		t.Errorf("the error names %s, where the hook passed: %v", l.Hosts[0].Addr, err)
	}
	if !strings.Contains(out, "deploy:failed") {
		t.Errorf("deploy:failed did not run:\n%s", out)
	}
	// On two hosts, a declarative hook after the lock travels in the
	// script that takes the lock, after the run's go-ahead (decide).
	if !strings.Contains(log, "deploy:lock, deploy:new_release_path") || !strings.Contains(log, "git:create_release, app:migrate)") ||
		!strings.Contains(log, "capstan-go:") {
		t.Errorf("app:migrate was not sent in the lock's script, after its go-ahead:\n%s", log)
	}
	os.Remove(marker)
	if after := state(); after != before {
		t.Errorf("the servers changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestDeclarativeHookWithSecretEnvOnLab: with Config.SecretEnv the scripts
// read the secret values on their standard input first, in a session of
// their own; the go-ahead of a declarative hook after the lock comes after
// them on the same input. On two hosts the hook after deploy:updated runs
// once on each, in the lock's script, and sees the secret.
func TestDeclarativeHookWithSecretEnvOnLab(t *testing.T) {
	ll := newLockLab(t, 2, "declsecret")
	d := NewDeployment()
	d.Configure(Config{Application: "app", RepoURL: ll.l.Repo, DeployTo: ll.deployTo,
		SecretEnv: map[string]Secret{"DECL_TOKEN": NewSecret("decl-secret-value")}})
	AfterIn(d, Updated, d.RemoteSh("app:migrate", "Migrates.", All(), InDir(ll.deployTo), `printf '%s\n' "$DECL_TOKEN" >> migrated`))
	var out, log bytes.Buffer
	err := d.Start(context.Background(), Deploy, WithStage(labStage(ll.l)), WithOutput(&out), WithColor(false),
		func(o *runOptions) { o.logW = &log })
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	for _, h := range ll.l.Hosts {
		if got, err := os.ReadFile(filepath.Join(h.Root, ll.dir, "migrated")); err != nil || string(got) != "decl-secret-value\n" {
			t.Errorf("%s: app:migrate wrote %q (%v), want the secret once", h.Addr, got, err)
		}
	}
	if !strings.Contains(log.String(), "git:create_release, app:migrate)") {
		t.Errorf("app:migrate was not sent in the lock's script:\n%s", log.String())
	}
	if strings.Contains(out.String()+log.String(), "decl-secret-value") {
		t.Error("the secret is in the console or the log")
	}
}
