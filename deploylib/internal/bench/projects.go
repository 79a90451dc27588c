package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// The deploy every tool does: the same repository, branch, linked files
// and dirs and number of releases kept.
const (
	application  = "bench"
	branch       = "main"
	keepReleases = 5
)

var (
	linkedFiles = []string{"config/secrets.yml"}
	linkedDirs  = []string{"log", "tmp/pids"}
)

// The environment variables the generated projects read, so that one
// compiled binary serves every lab.
const (
	envRepo       = "BENCH_REPO"        // the lab's bare repository (a path)
	envDeployTo   = "BENCH_DEPLOY_TO"   // deploy_to on every host
	envServers    = "BENCH_SERVERS"     // user@127.0.0.1:port,... (the proxies)
	envKnownHosts = "BENCH_KNOWN_HOSTS" // the proxies' host keys
	envKey        = "BENCH_KEY"         // the client's private key
)

const modulePath = "github.com/capstan-deploy/capstan"

// findRepoRoot returns the directory of the capstan module around dir.
func findRepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && modLine.FindSubmatch(b) != nil && string(modLine.FindSubmatch(b)[1]) == modulePath {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no checkout of %s around %s: run the benchmark from the repository", modulePath, dir)
		}
	}
}

var modLine = regexp.MustCompile(`(?m)^module\s+(\S+)\s*$`)

// teamGoMod returns the go.mod of the benchmark's team project: the
// capstan module's own (same Go version, mage as a tool, the same
// dependency versions) renamed, requiring capstan from repoRoot.
func teamGoMod(capstanGoMod []byte, repoRoot string) ([]byte, error) {
	if modLine.Find(capstanGoMod) == nil {
		return nil, errors.New("go.mod has no module line")
	}
	out := modLine.ReplaceAll(capstanGoMod, []byte("module capstanbench.example/team"))
	out = append(bytes.TrimRight(out, "\n"), '\n')
	out = fmt.Appendf(out, "\nrequire %s v0.0.0\n\nreplace %s => %s\n", modulePath, modulePath, repoRoot)
	return out, nil
}

// The hooks every tool's deploy runs, as real teams hang them: a check of
// the servers before deploy:check, a step in the new release after
// deploy:updated (a migration, say) on the app hosts, and a restart after
// deploy:published (Passenger's tmp/restart.txt) on every host. Each runs
// one command per host.
const (
	hookCheck   = "test -w <deploy_to>, on every host, before deploy:check"
	hookUpdated = "test -f REVISION in the release, on the app hosts, after deploy:updated"
	hookRestart = "touch current/tmp/restart.txt, on every host, after deploy:published"
)

// teamMagefile is the benchmark's team project: the standard deploy,
// configured like the Capistrano project, with the benchmark's three
// hooks, and a stage target "bench" whose servers come from the
// environment.
func teamMagefile() string {
	return fmt.Sprintf(`//go:build mage

// The team project of Capstan's benchmark (deploylib/bench): the standard
// deploy of the lab repository, with the settings of the Capistrano
// project it is compared with.
package main

import (
	"os"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib"
	//mage:import
	_ "github.com/capstan-deploy/capstan/deploylib/targets"
)

func init() {
	deploylib.Configure(deploylib.Config{
		Application:  %q,
		RepoURL:      os.Getenv(%q),
		Branch:       %q,
		DeployTo:     os.Getenv(%q),
		KeepReleases: %d,
		LinkedFiles:  %#v,
		LinkedDirs:   %#v,
	})
	// The three hooks in their declarative form: a command on some hosts,
	// which the planner runs inside the scripts of the tasks around it.
	deploylib.Before(deploylib.Check, deploylib.RemoteTask("bench:check_writable", "Checks that every host can write deploy_to.",
		deploylib.All(), deploylib.InLogin, "test", "-w", os.Getenv(%q)))
	deploylib.After(deploylib.Updated, deploylib.RemoteTask("bench:migrate", "Stands for a step in the new release on the app hosts.",
		deploylib.Roles("app"), deploylib.InRelease, "test", "-f", "REVISION"))
	deploylib.After(deploylib.Published, deploylib.RemoteTask("bench:restart", "Restarts the application the way Passenger is told to.",
		deploylib.All(), deploylib.InCurrent, "touch", "tmp/restart.txt"))
}

// Bench selects the benchmark's hosts (%s, through the latency proxies).
func Bench() {
	var servers []deploylib.Server
	for i, h := range strings.Split(os.Getenv(%q), ",") {
		servers = append(servers, deploylib.Server{Host: h, Roles: []string{"app", "web"}, Primary: i == 0})
	}
	deploylib.UseStage(deploylib.Stage{
		Name:    "bench",
		Servers: servers,
		SSH: deploylib.SSHOptions{
			KnownHostsFile: os.Getenv(%q),
			KnownHostsOnly: true,
			IdentityFiles:  []string{os.Getenv(%q)},
			ConfigFile:     "none",
		},
	})
}
`, application, envRepo, branch, envDeployTo, keepReleases, linkedFiles, linkedDirs, envDeployTo, envServers, envServers, envKnownHosts, envKey)
}

// writeCapstanProject writes the team project into dir.
func writeCapstanProject(dir, repoRoot string) error {
	mod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		return err
	}
	team, err := teamGoMod(mod, repoRoot)
	if err != nil {
		return err
	}
	sum, err := os.ReadFile(filepath.Join(repoRoot, "go.sum"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	files := map[string][]byte{
		"go.mod":             team,
		"go.sum":             sum,
		"magefiles/bench.go": []byte(teamMagefile()),
	}
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// compileCapstan compiles the team project's magefiles into bin with go
// tool mage -compile, with gocache as GOCACHE when set, and returns how
// long it took.
func compileCapstan(ctx context.Context, dir, bin, gocache string, log *os.File) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, "go", "tool", "mage", "-compile", bin)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false")
	if gocache != "" {
		cmd.Env = append(cmd.Env, "GOCACHE="+gocache)
	}
	cmd.Stdout, cmd.Stderr = log, log
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("go tool mage -compile in %s: %w (see %s)", dir, err, log.Name())
	}
	return d, nil
}

// Capistrano's project: a Capfile and config/deploy{.rb,/bench.rb}, read
// from the environment like the Capstan project.

const capfile = `# The Capistrano project of Capstan's benchmark (deploylib/bench).
require "capistrano/setup"
require "capistrano/deploy"
require "capistrano/scm/git"
install_plugin Capistrano::SCM::Git
`

func capDeployRB() string {
	return fmt.Sprintf(`# Same settings as the Capstan project of the benchmark.
set :application, %s
set :repo_url, ENV.fetch(%s)
set :branch, %s
set :deploy_to, ENV.fetch(%s)
set :linked_files, %s
set :linked_dirs, %s
set :keep_releases, %d

# The benchmark's three hooks, as in the Capstan project.
namespace :bench do
  task :check_writable do
    on roles(:all) do
      execute :test, "-w", deploy_to
    end
  end
  task :migrate do
    on roles(:app) do
      within(release_path) { execute :test, "-f", "REVISION" }
    end
  end
  task :restart do
    on roles(:all) do
      execute :touch, current_path.join("tmp/restart.txt")
    end
  end
end
before "deploy:check", "bench:check_writable"
after "deploy:updated", "bench:migrate"
after "deploy:published", "bench:restart"
`, rubyString(application), rubyString(envRepo), rubyString(branch), rubyString(envDeployTo),
		rubyArray(linkedFiles), rubyArray(linkedDirs), keepReleases)
}

func capStageRB() string {
	return fmt.Sprintf(`# The benchmark's hosts, through the latency proxies.
ENV.fetch(%s).split(",").each_with_index do |host, i|
  server host, roles: %%w[app web], primary: i.zero?
end

set :ssh_options, {
  keys: [ENV.fetch(%s)],
  keys_only: true,
  use_agent: false,
  auth_methods: %%w[publickey],
  config: false,
  user_known_hosts_file: ENV.fetch(%s),
  global_known_hosts_file: "/dev/null",
  verify_host_key: :always,
}
`, rubyString(envServers), rubyString(envKey), rubyString(envKnownHosts))
}

func rubyString(s string) string { return fmt.Sprintf("%q", s) }

func rubyArray(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = rubyString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// writeCapistranoProject writes the Capistrano project into dir.
func writeCapistranoProject(dir string) error {
	files := map[string]string{
		"Capfile":                capfile,
		"config/deploy.rb":       capDeployRB(),
		"config/deploy/bench.rb": capStageRB(),
	}
	for name, s := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// capVersion returns cap's version ("3.17.2"), or "" when cap is missing.
func capVersion(ctx context.Context) string {
	if _, err := exec.LookPath("cap"); err != nil {
		return ""
	}
	out, err := exec.CommandContext(ctx, "cap", "--version").Output()
	if err != nil {
		return ""
	}
	if m := regexp.MustCompile(`Capistrano Version: (\S+)`).FindSubmatch(out); m != nil {
		return string(m[1])
	}
	return "unknown version"
}

// ensureCapistrano returns cap's version, installing the Debian package
// capistrano with apt-get first when cap is missing and this process may
// (root, apt-get present, install allowed). When cap stays missing it
// returns "" and why.
func ensureCapistrano(ctx context.Context, install bool, progress io.Writer) (version, why string) {
	if v := capVersion(ctx); v != "" {
		return v, ""
	}
	const how = "install it with: sudo apt-get install capistrano (Debian, Ubuntu), or gem install capistrano -v 3.17.2"
	if !install {
		return "", "cap is not installed and BENCH_NO_INSTALL=1: " + how
	}
	if os.Geteuid() != 0 {
		return "", "cap is not installed and the benchmark is not running as root, so it cannot install it: " + how
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", "cap is not installed and there is no apt-get here: " + how
	}
	if err := aptInstall(ctx, progress, "capistrano"); err != nil {
		return "", fmt.Sprintf("%v: %s", err, how)
	}
	if v := capVersion(ctx); v != "" {
		return v, ""
	}
	return "", "apt-get installed capistrano but cap does not run: " + how
}

// aptInstall installs Debian packages with apt-get.
func aptInstall(ctx context.Context, progress io.Writer, pkgs ...string) error {
	fmt.Fprintf(progress, "installing %s with apt-get\n", strings.Join(pkgs, " "))
	for _, args := range [][]string{{"update", "-qq"}, append([]string{"install", "-y", "-qq", "--no-install-recommends"}, pkgs...)} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = progress, progress
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get %s: %w", strings.Join(args, " "), err)
		}
	}
	return nil
}

// ensureLabTools installs what the lab needs (sshd, ssh, git) with
// apt-get when it is missing and this process may; otherwise the lab
// reports what is missing.
func ensureLabTools(ctx context.Context, install bool, progress io.Writer) error {
	var missing []string
	for _, r := range [][2]string{{"/usr/sbin/sshd", "openssh-server"}, {"ssh", "openssh-client"}, {"git", "git"}} {
		if _, err := exec.LookPath(r[0]); err != nil {
			missing = append(missing, r[1])
		}
	}
	if len(missing) == 0 || !install || os.Geteuid() != 0 {
		return nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return nil
	}
	return aptInstall(ctx, progress, missing...)
}

// floorScript is the whole deploy of one host as one shell script: what
// the standard flow does (directories, linked file check, mirror update,
// archive of the branch's commit, REVISION, links, atomic switch, cleanup
// and revisions.log) and the three hooks, with no checks beyond set -e.
func floorScript(deployTo, repo, release, user string) string {
	q := shell.Quote
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	d := deployTo
	r := d + "/releases/" + release
	w("set -e")
	w("test -w %s", q(d)) // the check hook
	dirs := []string{d + "/shared", d + "/releases"}
	for _, ld := range linkedDirs {
		dirs = append(dirs, d+"/shared/"+ld)
	}
	for _, lf := range linkedFiles {
		dirs = append(dirs, filepath.Dir(d+"/shared/"+lf))
	}
	w("mkdir -p %s", quoteAll(dirs))
	for _, lf := range linkedFiles {
		w("test -f %s || { echo 'linked file %s is missing' >&2; exit 1; }", q(d+"/shared/"+lf), lf)
	}
	w("if test -f %s; then", q(d+"/repo/HEAD"))
	w("  cd %s && git remote set-url origin %s && git remote update --prune >/dev/null", q(d+"/repo"), q(repo))
	w("else")
	w("  git clone --quiet --mirror -- %s %s && cd %s", q(repo), q(d+"/repo"), q(d+"/repo"))
	w("fi")
	w("set -- $(git --no-pager log -1 --no-walk --format='%%H %%ct' %s --)", q(branch+"^{commit}"))
	w("sha=$1 time=$2")
	w("mkdir %s", q(r))
	w("git archive --format=tar \"$sha\" | tar -x -f - -C %s", q(r))
	w("echo \"$sha\" > %s", q(r+"/REVISION"))
	w("echo \"$time\" > %s", q(r+"/REVISION_TIME"))
	var parents, targets []string
	for _, n := range append(append([]string(nil), linkedFiles...), linkedDirs...) {
		if p := filepath.Dir(r + "/" + n); p != r {
			parents = append(parents, p)
		}
		targets = append(targets, r+"/"+n)
	}
	if len(parents) > 0 {
		w("mkdir -p %s", quoteAll(parents))
	}
	w("rm -rf %s", quoteAll(targets))
	for _, n := range append(append([]string(nil), linkedFiles...), linkedDirs...) {
		w("ln -s %s %s", q(d+"/shared/"+n), q(r+"/"+n))
	}
	w("(cd %s && test -f REVISION)", q(r)) // the hook after deploy:updated
	w("ln -s %s %s", q(r), q(d+"/releases/current"))
	w("mv %s %s", q(d+"/releases/current"), q(d))
	w("touch %s", q(d+"/current/tmp/restart.txt")) // the restart hook
	w("cd %s && ls -1 | grep -E '^[0-9]{14}$' | sort | head -n -%d | xargs -r rm -rf", q(d+"/releases"), keepReleases)
	w("echo \"Branch %s (at $sha) deployed as release %s by %s\" >> %s", branch, release, user, q(d+"/revisions.log"))
	return b.String()
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = shell.Quote(s)
	}
	return strings.Join(q, " ")
}

// sshArgs are the ssh client's arguments for one host of the floor: no
// user configuration or agent, the lab's key, host keys checked against
// knownHosts.
func sshArgs(key, knownHosts string, port int, user string) []string {
	return []string{
		"-F", "/dev/null",
		"-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes",
		"-o", "IdentityAgent=none",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-i", key,
		"-p", fmt.Sprint(port),
		user + "@127.0.0.1",
	}
}

// floorDriver is the local script that runs the floor: one ssh per host,
// all at once, each feeding script to sh -s; it fails when any host fails.
func floorDriver(script string, hosts [][]string) string {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	fmt.Fprintln(w, "fail=0")
	for i, args := range hosts {
		fmt.Fprintf(w, "ssh %s 'sh -s' < %s & p%d=$!\n", quoteAll(args), shell.Quote(script), i)
	}
	for i := range hosts {
		fmt.Fprintf(w, "wait $p%d || fail=1\n", i)
	}
	fmt.Fprintln(w, "exit $fail")
	w.Flush()
	return b.String()
}
