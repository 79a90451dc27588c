package capconv

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// labProject is a Capistrano project deploying the lab's repository to
// its hosts: linked files and dirs, a setup task that uploads the linked
// file before deploy:check, a build step after deploy:updated (within,
// with, execute, a shell line), a restart on the primary after
// deploy:published that reads a server property, and a task with hostile
// arguments that no hook runs.
func labProject(l *lab.Lab) map[string]string {
	var servers strings.Builder
	for i, h := range l.Hosts {
		primary := ""
		if i == 0 {
			primary = ", primary: true"
		}
		fmt.Fprintf(&servers, "server %q, user: %q, port: %d, roles: %%w{app web}%s, site: \"site-%d\"\n", "127.0.0.1", l.User, h.Port, primary, i+1)
	}
	fmt.Fprintf(&servers, "set :ssh_options, { keys: [%q], keys_only: true, auth_methods: %%w(publickey), user_known_hosts_file: %q, global_known_hosts_file: \"/dev/null\", verify_host_key: :always }\n", l.ClientKey, l.KnownHosts)
	return map[string]string{
		"Capfile": `require "capistrano/setup"
require "capistrano/deploy"
require "capistrano/scm/git"
install_plugin Capistrano::SCM::Git
Dir.glob("lib/capistrano/tasks/*.rake").each { |r| import r }
`,
		"config/deploy.rb": fmt.Sprintf(`set :application, "app"
set :repo_url, %q
set :branch, "main"
set :deploy_to, %q
set :keep_releases, 3
append :linked_files, "config/secrets.yml"
append :linked_dirs, "log", "tmp/pids"
set :app_env, "lab"
set :log_level, :info

before "deploy:check", "setup:secrets"
after "deploy:updated", "build:stamp"
after "deploy:published", "app:restart"
`, l.Repo, l.Hosts[0].DeployTo),
		"config/deploy/lab.rb": servers.String(),
		"lib/capistrano/tasks/setup.rake": `namespace :setup do
  desc "Puts the secrets into shared/"
  task :secrets do
    on roles(:app) do
      execute :mkdir, "-p", "#{shared_path}/config"
      upload! StringIO.new("token: lab\n"), "#{shared_path}/config/secrets.yml"
    end
  end
end
`,
		"lib/capistrano/tasks/build.rake": `namespace :build do
  desc "Stamps the release"
  task :stamp do
    on roles(:app) do
      within release_path do
        with app_env: fetch(:app_env) do
          execute :mkdir, "-p", "public"
          execute :cp, "config/app.yml", "public/app.yml"
          execute "echo built > BUILD_MARK"
        end
      end
    end
  end
end

namespace :app do
  task :restart do
    on primary(:app) do |host|
      within current_path do
        execute :touch, "restarted-#{host.properties.fetch(:site)}"
      end
    end
  end
end

namespace :evil do
  task :mkdir do
    on roles(:app) do
      within shared_path do
        execute :mkdir, "-p", "it's \"q\" $(touch pwned) ` + "`touch pwned2`" + ` ; x"
      end
    end
  end
end
`,
	}
}

// tree lists dir: one line per entry, "d path", "f path sha-free
// content" or "l path -> target", with release names replaced by
// <release>.
func tree(t *testing.T, dir string, release *regexp.Regexp) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = release.ReplaceAllString(rel, "<release>")
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out = append(out, "l "+rel+" -> "+release.ReplaceAllString(target, "<release>"))
		case d.IsDir():
			out = append(out, "d "+rel)
			if rel == "repo" {
				return filepath.SkipDir // the git mirror's own files
			}
		default:
			b, _ := os.ReadFile(p)
			out = append(out, "f "+rel+" "+strings.TrimSpace(string(b)))
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// TestLabDeployMatchesCap deploys a Capistrano project with cap to lab
// sshd hosts, converts it, deploys the conversion with go tool mage to
// the same hosts, and checks that Capstan's release holds what cap's
// does (files, linked files and dirs, the hooks' work) with current on
// the new release; then runs a converted task with hostile arguments
// and checks that they reached the server as written.
func TestLabDeployMatchesCap(t *testing.T) {
	if _, err := exec.LookPath("cap"); err != nil {
		t.Fatal("cap is missing: apt-get install capistrano")
	}
	l := lab.Start(t, lab.Options{Hosts: 2})
	l.RequireSharedDeployTo(t)
	capDir := writeProject(t, labProject(l))

	env := goEnv("USER=alice", "SSH_AUTH_SOCK=", "MAGEFILE_CACHE="+t.TempDir())
	capEnv := append(os.Environ(), "USER=alice")
	capEnv = slices.DeleteFunc(capEnv, func(kv string) bool {
		return strings.HasPrefix(kv, "HOSTS=") || strings.HasPrefix(kv, "ROLES=") || strings.HasPrefix(kv, "SSH_AUTH_SOCK=")
	})
	runIn(t, capDir, capEnv, "cap", "lab", "deploy")
	local := func(h *lab.Host) string { return filepath.Join(h.Root, "app") }
	releases := func(h *lab.Host) []string {
		entries, _ := os.ReadDir(filepath.Join(local(h), "releases"))
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	capRelease := map[string]string{}
	for _, h := range l.Hosts {
		rs := releases(h)
		if len(rs) != 1 {
			t.Fatalf("%s: cap left releases %v", h.Name, rs)
		}
		capRelease[h.Name] = rs[0]
	}

	r, err := Convert(Options{Dir: capDir, Module: "example.com/labapp"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range r.Notes {
		t.Logf("note: %s", n)
	}
	dir := teamModule(t, "labapp", r.Files)
	runIn(t, dir, env, "go", "tool", "mage", "lab", "deploy")

	releaseRE := regexp.MustCompile(`\d{14}`)
	head := l.Commits[len(l.Commits)-1]
	for i, h := range l.Hosts {
		rs := releases(h)
		if len(rs) != 2 {
			t.Fatalf("%s: releases %v, want cap's and Capstan's", h.Name, rs)
		}
		capstanRelease := rs[1]
		cur, err := os.Readlink(filepath.Join(local(h), "current"))
		if err != nil || cur != h.DeployTo+"/releases/"+capstanRelease {
			t.Errorf("%s: current -> %q (%v), want %s/releases/%s", h.Name, cur, err, h.DeployTo, capstanRelease)
		}
		capTree := tree(t, filepath.Join(local(h), "releases", capRelease[h.Name]), releaseRE)
		ourTree := tree(t, filepath.Join(local(h), "releases", capstanRelease), releaseRE)
		// Capstan writes REVISION_TIME too; the restart stamp is in
		// whichever release was current when each tool restarted.
		var extra []string
		for _, e := range ourTree {
			if !slices.Contains(capTree, e) {
				extra = append(extra, e)
			}
		}
		for _, e := range capTree {
			if !slices.Contains(ourTree, e) {
				t.Errorf("%s: cap's release has %q, Capstan's does not", h.Name, e)
			}
		}
		for _, e := range extra {
			if !strings.HasPrefix(e, "f REVISION_TIME ") {
				t.Errorf("%s: Capstan's release has %q, cap's does not", h.Name, e)
			}
		}
		for _, want := range []string{
			"f REVISION " + head,
			"l config/secrets.yml -> " + h.DeployTo + "/shared/config/secrets.yml",
			"l log -> " + h.DeployTo + "/shared/log",
			"l tmp/pids -> " + h.DeployTo + "/shared/tmp/pids",
			"f public/app.yml name: lab\nenv: test",
		} {
			if !slices.Contains(ourTree, want) {
				t.Errorf("%s: Capstan's release lacks %q:\n%s", h.Name, want, strings.Join(ourTree, "\n"))
			}
		}
		// SSHKit ran "echo built > BUILD_MARK" outside within (a command
		// string with spaces): not in the release, and the Go does the same.
		if slices.Contains(ourTree, "f BUILD_MARK built") {
			t.Errorf("%s: BUILD_MARK is in the release; cap wrote it to the login directory", h.Name)
		}
		restarted := slices.Contains(ourTree, "f restarted-site-1 ")
		if restarted != (i == 0) {
			t.Errorf("%s: restarted stamp %v, want it on the primary only", h.Name, restarted)
		}
		secrets, _ := os.ReadFile(filepath.Join(local(h), "shared", "config", "secrets.yml"))
		if string(secrets) != "token: lab\n" {
			t.Errorf("%s: shared/config/secrets.yml = %q", h.Name, secrets)
		}
		log, _ := os.ReadFile(filepath.Join(local(h), "revisions.log"))
		lines := strings.Split(strings.TrimSpace(string(log)), "\n")
		want := []string{
			fmt.Sprintf("Branch main (at %s) deployed as release %s by alice", head, capRelease[h.Name]),
			fmt.Sprintf("Branch main (at %s) deployed as release %s by alice", head, capstanRelease),
		}
		if !slices.Equal(lines, want) {
			t.Errorf("%s: revisions.log\n%s\nwant\n%s", h.Name, strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
	}

	// The hostile arguments are one word each, as written: a directory
	// of that name, and nothing the shell would have run.
	runIn(t, dir, env, "go", "tool", "mage", "lab", "evil:mkdir")
	for _, h := range l.Hosts {
		shared := filepath.Join(local(h), "shared")
		if fi, err := os.Stat(filepath.Join(shared, "it's \"q\" $(touch pwned) `touch pwned2` ; x")); err != nil || !fi.IsDir() {
			t.Errorf("%s: the hostile directory is missing: %v", h.Name, err)
		}
		for _, p := range []string{"pwned", "pwned2", "x"} {
			if _, err := os.Stat(filepath.Join(shared, p)); err == nil {
				t.Errorf("%s: shared/%s exists: a hostile argument reached the shell", h.Name, p)
			}
		}
	}
}
