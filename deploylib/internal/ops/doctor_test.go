package ops

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
	"github.com/capstan-deploy/capstan/deploylib/internal/enginetest"
	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
)

// facts builds a host's answer to the doctor's probe for /srv/shop.
func facts(user string, paths map[string]string, availKB string, missing []string, git string) string {
	var b strings.Builder
	b.WriteString("@user\n" + user + "\n@paths\n")
	for _, p := range remote.At("/srv/shop").DoctorPaths() {
		for _, f := range paths[p] {
			b.WriteString(string(f) + " " + p + "\n")
		}
	}
	b.WriteString("@df\nFilesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 104857600 1000 " + availKB + " 1% /srv\n@missing\n")
	for _, m := range missing {
		b.WriteString(m + "\n")
	}
	b.WriteString("@git\n" + git)
	return b.String()
}

var healthy = map[string]string{"/srv/shop": "edw", "/srv/shop/releases": "edw", "/srv/shop/shared": "edw",
	"/srv/shop/current": "edLw", "/srv/shop/repo": "edw", "/srv": "ed", "/": "ed"}

const gitOK = "git version 2.39.2\n0123456789abcdef0123456789abcdef01234567\trefs/heads/main\n@git-ok\n"

// TestDoctorReport pins the doctor's table and advice for a fleet with
// one of each problem.
func TestDoctorReport(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Settings = map[string]string{"log_fiel": "x", "slack_channel": "#deploys"}
	d := isolate(t, cfg)
	d.DeclareSetting("slack_channel", "where the notification hook posts")
	fresh := map[string]string{"/srv": "edw", "/": "ed"}
	locked := map[string]string{"/srv": "ed", "/": "ed"}
	badDirs := map[string]string{"/srv/shop": "edw", "/srv/shop/releases": "ed", "/srv/shop/shared": "edw", "/srv/shop/current": "edw", "/srv": "ed", "/": "ed"}
	answer := func(host, out string) *backend.Recorder {
		return backend.NewRecorder(host, backend.Rule{Match: "echo @user", Reply: backend.Reply{Stdout: out}})
	}
	recs := map[string]*backend.Recorder{
		"deploy@web1": answer("deploy@web1", facts("deploy", healthy, "52428800", nil, gitOK)),
		"deploy@web2": answer("deploy@web2", facts("deploy", badDirs, "512000", []string{"config/secrets.yml"},
			"git version 2.39.2\ngit@example.com: Permission denied (publickey).\nfatal: Could not read from remote repository.\n@git-failed\n")),
		"deploy@web3": answer("deploy@web3", facts("deploy", fresh, "52428800", nil, "@no-git\nsh: 1: git: not found\n@git-failed\n")),
		"deploy@web4": answer("deploy@web4", facts("deploy", locked, "51200", nil, "git version 2.39.2\n@git-ok\n")),
		"deploy@db1":  backend.NewRecorder("deploy@db1", backend.Rule{Match: "id -un", Reply: backend.Reply{Stdout: "deploy\n"}}),
	}
	st := engine.Stage{Name: "production", Servers: []engine.Server{
		{Host: "deploy@web1", Roles: []string{"app"}}, {Host: "deploy@web2", Roles: []string{"app"}},
		{Host: "deploy@web3", Roles: []string{"app"}}, {Host: "deploy@web4", Roles: []string{"app"}},
		{Host: "deploy@web5", Roles: []string{"app"}},
		{Host: "deploy@db1", Roles: []string{"db"}, NoRelease: true},
	}}
	dial := engine.WithDialer(func(ctx context.Context, s engine.Server) (backend.Conn, error) {
		if s.Host == "deploy@web5" {
			return nil, errors.New("host key of web5:22 is unknown: the server offered ssh-ed25519 key SHA256:abc and ~/.ssh/known_hosts records no key for it; not logging in")
		}
		return recs[s.Host], nil
	})
	var out bytes.Buffer
	err := d.Diagnose(context.Background(), engine.WithStage(st), engine.WithOutput(&out), engine.WithColor(false), engine.WithClock(enginetest.FixedClock(0)), dial)
	if err == nil || err.Error() != "doctor: 4 hosts of 6 not ready; see what to do above" {
		t.Errorf("error = %v", err)
	}
	enginetest.Golden(t, "doctor.golden", out.String())
	for host, rec := range recs {
		if n := len(rec.Log()); n != 1 {
			t.Errorf("%s got %d commands, want 1", host, n)
		}
	}
}

// TestDoctorLocal runs the doctor's real command on a local stage: a
// missing linked file makes the host not ready; once it exists, the host
// is ready.
func TestDoctorLocal(t *testing.T) {
	t.Parallel()
	repo := enginetest.NewGitRepo(t)
	d := isolate(t, engine.Config{Application: "app", LinkedFiles: []string{"config/secrets.yml"}, Settings: map[string]string{"log_flie": "off"}})
	st, err := engine.LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	doctor := func() (string, error) {
		var out bytes.Buffer
		err := d.Diagnose(context.Background(), engine.WithStage(st), engine.WithOutput(&out), engine.WithColor(false))
		return out.String(), err
	}
	out, err := doctor()
	if err == nil {
		t.Fatalf("ready with a missing linked file:\n%s", out)
	}
	shared := filepath.Join(st.DeployTo, "shared", "config", "secrets.yml")
	for _, want := range []string{
		"HOST       LOGIN  GIT  DISK FREE",
		"ok (created by the first deploy)  FAIL 1 missing (1)  NOT READY",
		"(1) localhost, linked files: create " + shared + " on the host",
		`Settings["log_flie"] is not a setting Capstan knows or the magefile declared with deploylib.DeclareSetting (did you mean "log_file"?)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(st.DeployTo); !os.IsNotExist(err) {
		t.Errorf("the doctor created deploy_to: %v", err)
	}

	os.MkdirAll(filepath.Dir(shared), 0o755)
	os.WriteFile(shared, []byte("x"), 0o600)
	out, err = doctor()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "localhost  ok     ok   ") || !strings.Contains(out, "  ready") {
		t.Errorf("not ready:\n%s", out)
	}

	st.Branch = "no-such-branch"
	if out, _ := doctor(); !strings.Contains(out, `(1) localhost, git: branch "no-such-branch" does not exist in `+repo) {
		t.Errorf("missing branch not reported:\n%s", out)
	}
}
