package ops

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
	"github.com/capstan-deploy/capstan/deploylib/internal/enginetest"
)

// releasesAnswer builds a host's answer to releasesCmd for /srv/shop.
func releasesAnswer(releases []string, unfinished []string, current string, revisions map[string]string, log string) string {
	var b strings.Builder
	for _, r := range releases {
		b.WriteString(r + "\n")
	}
	b.WriteString("--capstan--\n")
	for _, r := range unfinished {
		b.WriteString(r + "\n")
	}
	b.WriteString("--capstan--\n")
	if current != "" {
		b.WriteString("/srv/shop/releases/" + current + "\n")
	}
	b.WriteString("--capstan--\n")
	for _, r := range releases {
		if _, ok := revisions[r]; ok {
			b.WriteString("/srv/shop/releases/" + r + "/REVISION\n")
		}
	}
	b.WriteString("--capstan-report--" + "\n")
	for _, r := range releases {
		if sha, ok := revisions[r]; ok {
			fmt.Fprintf(&b, "/srv/shop/releases/%s/REVISION:%s\n", r, sha)
			fmt.Fprintf(&b, "/srv/shop/releases/%s/REVISION_TIME:1795640000\n", r)
		}
	}
	b.WriteString("--capstan-report--" + "\n")
	b.WriteString(log)
	return b.String()
}

// TestReleasesDisagree pins the releases report of three hosts: two that
// disagree and one that cannot be reached. Each host gets one command.
func TestReleasesDisagree(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	const a, b = "0123456789abcdef0123456789abcdef01234567", "fedcba9876543210fedcba9876543210fedcba98"
	log := "Branch main (at " + b + ") deployed as release 20261125214038 by alice\n" +
		"Branch main (at " + a + ") deployed as release 20261125214042 by bob\n"
	recs := map[string]*backend.Recorder{
		"deploy@web1": backend.NewRecorder("deploy@web1", backend.Rule{Match: "ls -1 /srv/shop/releases", Reply: backend.Reply{
			Stdout: releasesAnswer([]string{"20261125214038", "20261125214042"}, nil, "20261125214042",
				map[string]string{"20261125214038": b, "20261125214042": a}, log)}}),
		"deploy@web2": backend.NewRecorder("deploy@web2", backend.Rule{Match: "ls -1 /srv/shop/releases", Reply: backend.Reply{
			Stdout: releasesAnswer([]string{"20261125214038", "20261125214042", "20261125214045"}, []string{"20261125214045"}, "20261125214038",
				map[string]string{"20261125214038": b, "20261125214042": a}, log+"carol rolled back to release 20261125214038\n")}}),
	}
	st := appStage("deploy@web1", "deploy@web2", "deploy@web3")
	var out bytes.Buffer
	err := d.ShowReleases(context.Background(), engine.WithStage(st), engine.WithOutput(&out), engine.WithColor(false), engine.WithClock(enginetest.FixedClock(0)), perHostDialer(recs))
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error = %v, want web3's connection error", err)
	}
	enginetest.Golden(t, "releases-disagree.golden", out.String())
	for host, rec := range recs {
		if n := len(rec.Log()); n != 1 {
			t.Errorf("%s got %d commands, want 1", host, n)
		}
	}
}

// TestReleasesLocal lists the releases of a real local deploy history:
// two deploys, a rollback (which archives the newer release), and a
// release left unfinished.
func TestReleasesLocal(t *testing.T) {
	t.Parallel()
	repo := enginetest.NewGitRepo(t)
	d := isolate(t, engine.Config{Application: "app"})
	st, err := engine.LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)
	sha1 := enginetest.GitIn(t, repo, "rev-parse", "HEAD")
	for i, task := range []*engine.Task{engine.Deploy, engine.Deploy, engine.Rollback} {
		if i == 1 {
			enginetest.Commit(t, repo, "v2\n")
		}
		if out, err := deploy(t, d, st, task, t0.Add(time.Duration(i)*4*time.Second)); err != nil {
			t.Fatalf("step %d: %v\n%s", i, err, out)
		}
	}
	// A deploy that died before publishing leaves an unfinished release.
	os.MkdirAll(filepath.Join(st.DeployTo, "releases", "20261125214050"), 0o755)
	os.WriteFile(filepath.Join(st.DeployTo, ".capstan", "unfinished", "20261125214050"), []byte("deadbeef\n"), 0o644)

	var out bytes.Buffer
	logPath := filepath.Join(t.TempDir(), "deploy.log")
	if err := d.ShowReleases(context.Background(), engine.WithStage(st), engine.WithOutput(&out), engine.WithColor(false), engine.WithLogFile(logPath)); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	got := strings.TrimRight(out.String(), "\n")
	lines := strings.Split(got, "\n")
	want := []string{
		"localhost  " + st.DeployTo,
		"    RELEASE         DEPLOYED (UTC)       REVISION      BRANCH  BY     STATE",
		"    20261125214050  2026-11-25 21:40:50  -             -       -      unfinished",
		"  * 20261125214038  2026-11-25 21:40:38  " + sha1[:12] + "  main    alice  current, rolled back to by alice",
	}
	if len(lines) != len(want) {
		t.Fatalf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %q\nwant %q", i, lines[i], want[i])
		}
	}
	log, _ := os.ReadFile(logPath)
	if n := strings.Count(string(log), "Running on localhost"); n != 1 {
		t.Errorf("%d commands ran, want 1:\n%s", n, log)
	}
}
