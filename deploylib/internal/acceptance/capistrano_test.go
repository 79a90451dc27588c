package acceptance_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// capProject writes a Capistrano 3 project deploying the lab's repository
// to its hosts with the same settings configure uses, and returns a
// function that runs cap with the given task.
func capProject(t *testing.T, l *lab.Lab) func(task string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"Capfile": `require "capistrano/setup"
require "capistrano/deploy"
require "capistrano/scm/git"
install_plugin Capistrano::SCM::Git
`,
		"config/deploy.rb": fmt.Sprintf(`set :application, "app"
set :repo_url, %q
set :branch, "main"
set :deploy_to, %q
set :linked_files, ["config/secrets.yml"]
set :linked_dirs, ["log"]
set :keep_releases, 5
set :log_level, :info
`, l.Repo, l.Hosts[0].DeployTo),
	}
	var stage strings.Builder
	for i, h := range l.Hosts {
		roles := `%w{app web}`
		if i >= 2 {
			roles = `%w{app db}`
		}
		fmt.Fprintf(&stage, "server %q, user: %q, port: %d, roles: %s\n", "127.0.0.1", l.User, h.Port, roles)
	}
	fmt.Fprintf(&stage, "set :ssh_options, { keys: [%q], keys_only: true, auth_methods: %%w(publickey), user_known_hosts_file: %q, global_known_hosts_file: \"/dev/null\", verify_host_key: :always }\n", l.ClientKey, l.KnownHosts)
	files["config/deploy/lab.rb"] = stage.String()
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return func(task string) string {
		t.Helper()
		cmd := exec.Command("cap", "lab", task)
		cmd.Dir = dir
		// An empty HOSTS or ROLES makes cap select no server at all, an
		// empty ROLLBACK_RELEASE names no release.
		var env []string
		for _, kv := range os.Environ() {
			if k, v, _ := strings.Cut(kv, "="); v != "" || (k != "HOSTS" && k != "ROLES" && k != "ROLLBACK_RELEASE") {
				env = append(env, kv)
			}
		}
		cmd.Env = append(env, "USER=alice")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cap lab %s: %v\n%s", task, err, out)
		}
		return string(out)
	}
}

// hostView is what one host's deploy_to holds, as the tools leave it.
type hostView struct {
	releases []string
	current  string
	revision string
	log      []string
}

func viewOf(t *testing.T, h *lab.Host) hostView {
	t.Helper()
	local := filepath.Join(h.Root, "app")
	var v hostView
	entries, _ := os.ReadDir(filepath.Join(local, "releases"))
	for _, e := range entries {
		v.releases = append(v.releases, e.Name())
	}
	cur, err := os.Readlink(filepath.Join(local, "current"))
	if err != nil {
		t.Fatalf("%s: current: %v", h.Name, err)
	}
	if !strings.HasPrefix(cur, h.DeployTo+"/releases/") {
		t.Errorf("%s: current -> %s is not an absolute path into releases/", h.Name, cur)
	}
	v.current = filepath.Base(cur)
	rev, _ := os.ReadFile(filepath.Join(local, "releases", v.current, "REVISION"))
	v.revision = strings.TrimSpace(string(rev))
	data, _ := os.ReadFile(filepath.Join(local, "revisions.log"))
	v.log = strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return v
}

// TestCapistranoCompatibility hands the same servers back and forth
// between Capistrano 3.17 and Capstan and checks after each step that the
// layout is what the other tool would have left.
func TestCapistranoCompatibility(t *testing.T) {
	if _, err := exec.LookPath("cap"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("cap is missing: apt-get install capistrano (go tool mage test installs it)")
		}
		t.Skip("cap is not installed: apt-get install capistrano")
	}
	l := lab.Start(t, lab.Options{Hosts: 2})
	l.RequireSharedDeployTo(t)
	d := configure(t, l)
	prepareShared(t, l)
	st := sshStage(l)
	cap := capProject(t, l)
	head := l.Commits[len(l.Commits)-1]

	// 1. Capistrano deploys.
	cap("deploy")
	capRelease := viewOf(t, l.Hosts[0]).current
	// 2. Capstan deploys on top, one second later at least.
	next := time.Now().UTC().Add(2 * time.Second)
	if out, err := start(t, d, st, deploylib.Deploy, next); err != nil {
		t.Fatalf("capstan deploy: %v\n%s", err, out)
	}
	capstanRelease := remote.ReleaseNameAt(next)
	for _, h := range l.Hosts {
		v := viewOf(t, h)
		if v.current != capstanRelease || v.revision != head {
			t.Errorf("%s after capstan deploy: current %s revision %s", h.Name, v.current, v.revision)
		}
		if want := []string{capRelease, capstanRelease}; strings.Join(v.releases, " ") != strings.Join(want, " ") {
			t.Errorf("%s: releases %v, want %v", h.Name, v.releases, want)
		}
		if len(v.log) != 2 || v.log[0] != "Branch main (at "+head+") deployed as release "+capRelease+" by alice" ||
			v.log[1] != "Branch main (at "+head+") deployed as release "+capstanRelease+" by alice" {
			t.Errorf("%s: revisions.log %q", h.Name, v.log)
		}
	}
	// 3. Capstan rolls back to Capistrano's release.
	if out, err := start(t, d, st, deploylib.Rollback, next.Add(2*time.Second)); err != nil {
		t.Fatalf("capstan rollback: %v\n%s", err, out)
	}
	for _, h := range l.Hosts {
		v := viewOf(t, h)
		if v.current != capRelease || strings.Join(v.releases, " ") != capRelease {
			t.Errorf("%s after capstan rollback: current %s releases %v", h.Name, v.current, v.releases)
		}
		if last := v.log[len(v.log)-1]; last != "alice rolled back to release "+capRelease {
			t.Errorf("%s: last log line %q", h.Name, last)
		}
		if _, err := os.Stat(filepath.Join(h.Root, "app", "rolled-back-release-"+capstanRelease+".tar.gz")); err != nil {
			t.Errorf("%s: %v", h.Name, err)
		}
	}
	// 4. Capstan deploys again, then Capistrano rolls back to its release.
	again := next.Add(4 * time.Second)
	if out, err := start(t, d, st, deploylib.Deploy, again); err != nil {
		t.Fatalf("capstan deploy: %v\n%s", err, out)
	}
	cap("deploy:rollback")
	for _, h := range l.Hosts {
		v := viewOf(t, h)
		if v.current != capRelease || v.revision != head {
			t.Errorf("%s after cap rollback: current %s revision %s", h.Name, v.current, v.revision)
		}
		if last := v.log[len(v.log)-1]; last != "alice rolled back to release "+capRelease {
			t.Errorf("%s: last log line %q", h.Name, last)
		}
		if _, err := os.Stat(filepath.Join(h.Root, "app", "rolled-back-release-"+remote.ReleaseNameAt(again)+".tar.gz")); err != nil {
			t.Errorf("%s: cap did not archive Capstan's release: %v", h.Name, err)
		}
	}
	// 5. And Capistrano deploys over Capstan's layout.
	cap("deploy")
	for _, h := range l.Hosts {
		if v := viewOf(t, h); v.current == capRelease || v.revision != head {
			t.Errorf("%s after cap deploy: current %s revision %s", h.Name, v.current, v.revision)
		}
	}
}
