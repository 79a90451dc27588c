//go:build unix

package engine

import (
	"bytes"
	"context"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// healthLab deploys once to two lab hosts under dir, without a health
// check, and returns a deploy with check at a time after it, with its
// console output and log.
func healthLab(t *testing.T, l *lab.Lab, dir string) func(check HealthCheck) (string, string, error) {
	t.Helper()
	l.RequireSharedDeployTo(t)
	deployTo := path.Join(path.Dir(l.Hosts[0].DeployTo), dir)
	for _, h := range l.Hosts {
		if err := os.MkdirAll(filepath.Join(h.Root, dir, "shared"), 0o755); err != nil {
			t.Fatal(err)
		}
		chownTree(t, l, filepath.Join(h.Root, dir))
	}
	t.Setenv("USER", "alice")
	for _, k := range []string{"HOSTS", "ROLES", "ROLLBACK_RELEASE", "DRY_RUN", "BRANCH"} {
		t.Setenv(k, "")
	}
	at := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	deploy := func(check *HealthCheck) (string, string, error) {
		d := NewDeployment()
		d.Configure(Config{Application: "app", RepoURL: l.Repo, DeployTo: deployTo, KeepReleases: 1, HealthCheck: check})
		var out, log bytes.Buffer
		err := d.Start(context.Background(), Deploy, WithStage(labStage(l)), WithOutput(&out), WithColor(false),
			WithClock(func() time.Time { return at }), func(o *runOptions) { o.logW = &log })
		at = at.Add(time.Minute)
		return out.String(), log.String(), err
	}
	if out, _, err := deploy(nil); err != nil {
		t.Fatalf("first deploy: %v\n%s", err, out)
	}
	return func(check HealthCheck) (string, string, error) { return deploy(&check) }
}

// labCurrent is where current points on each lab host, relative to dir.
func labCurrent(t *testing.T, l *lab.Lab, dir string) []string {
	t.Helper()
	var links []string
	for _, h := range l.Hosts {
		link, err := os.Readlink(filepath.Join(h.Root, dir, "current"))
		if err != nil {
			t.Fatal(err)
		}
		links = append(links, path.Base(link))
	}
	return links
}

// TestHealthCheckFailsOnLab: the check fails on one real host after its
// retries: both hosts end on the previous release, deploy:cleanup did not
// run (KeepReleases 1 keeps the previous release only because it never
// ran), and the error names the host, the check's command and its exit
// status, and says every host was switched back. The check ran in the
// switch's script.
func TestHealthCheckFailsOnLab(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 2})
	deploy := healthLab(t, l, "healthfail")
	before := labCurrent(t, l, "healthfail")
	bad, good := l.Hosts[1], l.Hosts[0]
	if err := os.WriteFile(filepath.Join(bad.Root, "healthfail", "shared", "sick"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	const probe = "test ! -e ../../shared/sick"
	out, log, err := deploy(HealthCheck{Command: []string{"sh", "-c", probe}, Retries: 2, Interval: 200 * time.Millisecond, Timeout: 20 * time.Second})
	if err == nil {
		t.Fatalf("deploy passed with a failing check\n%s", out)
	}
	for _, want := range []string{"deploy:health_check", "health check failed; every host was switched back to its previous release",
		"not healthy after 3 tries", bad.Addr, probe, "exit status 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), good.Addr) {
		t.Errorf("the error names %s, where the check passed: %v", good.Addr, err)
	}
	if after := labCurrent(t, l, "healthfail"); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("current -> %v, want the previous release everywhere %v\n%s", after, before, out)
	}
	for _, h := range l.Hosts {
		if _, err := os.Stat(filepath.Join(h.Root, "healthfail", "releases", before[0])); err != nil {
			t.Errorf("%s: the previous release is gone: %v", h.Addr, err)
		}
	}
	if strings.Contains(out, "deploy:cleanup") || strings.Contains(out, "deploy:log_revision") {
		t.Errorf("tasks after publishing ran:\n%s", out)
	}
	if !strings.Contains(log, "2 steps (deploy:symlink:release, deploy:health_check)") {
		t.Errorf("the check was not sent in the switch's script:\n%s", log)
	}
	if !strings.Contains(log, healthTryFailed+"2 of 3 failed (exit status 1)") {
		t.Errorf("the log does not show the tries:\n%s", log)
	}
}

// TestHealthCheckPassesAfterRetryOnLab: the check fails its first try on
// every real host and passes the second: the deploy succeeds, current
// points at the new release everywhere, and the log shows the failed try.
func TestHealthCheckPassesAfterRetryOnLab(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 2})
	deploy := healthLab(t, l, "healthretry")
	before := labCurrent(t, l, "healthretry")
	const probe = "test -e ../../shared/tried || { touch ../../shared/tried; exit 7; }"
	out, log, err := deploy(HealthCheck{Command: []string{"sh", "-c", probe}, Retries: 1, Interval: 300 * time.Millisecond, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	after := labCurrent(t, l, "healthretry")
	if after[0] == before[0] || after[0] != after[1] {
		t.Errorf("current -> %v, want the new release everywhere (was %v)", after, before)
	}
	if !strings.Contains(log, "2 steps (deploy:symlink:release, deploy:health_check)") {
		t.Errorf("the check was not sent in the switch's script:\n%s", log)
	}
	if n := strings.Count(log, healthTryFailed+"1 of 2 failed (exit status 7)"); n < 2 {
		t.Errorf("the log shows the failed first try %d times, want once per host:\n%s", n, log)
	}
	if !strings.Contains(out, "deploy:cleanup") {
		t.Errorf("deploy:cleanup did not run:\n%s", out)
	}
}
