package bench

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/internal/measure"
)

func TestCountLog(t *testing.T) {
	log := `debug1: server_input_channel_req: channel 0 request exec reply 1
Accepted publickey for capstanlab from 127.0.0.1 port 36182 ssh2: ED25519 SHA256:x
Starting session: command for capstanlab from 127.0.0.1 port 36182 id 0
debug1: session_input_channel_req: session 0 req exec
Starting session: command for capstanlab from 127.0.0.1 port 36182 id 1
Starting session: subsystem 'sftp' for capstanlab from 127.0.0.1 port 36182 id 2
Postponed publickey for capstanlab from 127.0.0.1 port 36182 ssh2 [preauth]
Starting session: command for capstanlab from 127.0.0.1 port 36190 id 0`
	got := countLog([]byte(log))
	if got != (Counts{Sessions: 4, Connections: 1}) {
		t.Errorf("countLog = %+v, want 4 sessions and 1 connection", got)
	}
}

func TestCountCapstanLog(t *testing.T) {
	log := `  INFO ------------------------------------------------------------------
  INFO [1f2e3d4c] 00:00 git:check
 DEBUG [1f2e3d4c.001] Running on deploy@127.0.0.1:2201: ( export A=1 ; git ls-remote /r main )
 DEBUG [1f2e3d4c.001] 	out: 0123	refs/heads/main
 DEBUG [1f2e3d4c.001] Finished in 0.412 seconds with exit status 0 (successful).
 DEBUG [1f2e3d4c.002] Running on deploy@127.0.0.1:2202: ( export A=1 ; git ls-remote /r main )
  INFO [1f2e3d4c.003] Running on deploy@127.0.0.1:2201: echo a
  INFO [1f2e3d4c.003] > echo b
  INFO [1f2e3d4c.003] 	out: Running on deploy@127.0.0.1:2202: fake
 DEBUG [1f2e3d4c] Sending to deploy@127.0.0.1:2202 as one remote command, 2 steps (a, b), each reported below with its task:
 DEBUG [1f2e3d4c] ( export A=1 ; git ls-remote /r main )
  INFO [1f2e3d4c.004] Running on deploy@127.0.0.1:2202: a
  INFO [1f2e3d4c.005] Running on deploy@127.0.0.1:2202: b
`
	got := countCapstanLog([]byte(log))
	if len(got) != 2 || got["deploy@127.0.0.1:2201"] != 2 || got["deploy@127.0.0.1:2202"] != 2 {
		t.Errorf("countCapstanLog = %v", got)
	}
}

func TestMedianAndSpan(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var ds []time.Duration
		for _, n := range ns {
			ds = append(ds, time.Duration(n)*time.Millisecond)
		}
		return ds
	}
	if got := measure.Median(ms(5, 1, 3)); got != 3*time.Millisecond {
		t.Errorf("median odd = %v", got)
	}
	if got := measure.Median(ms(4, 1, 3, 2)); got != 2500*time.Microsecond {
		t.Errorf("median even = %v", got)
	}
	if span([]int{12, 12}) != "12" || span([]int{13, 12}) != "12-13" || span(nil) != "-" {
		t.Errorf("span wrong")
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("BENCH_HOSTS", "1, 3")
	t.Setenv("BENCH_RUNS", "2")
	t.Setenv("BENCH_DELAY", "10ms")
	t.Setenv("BENCH_TOOLS", "capstan,floor")
	t.Setenv("BENCH_COLD", "1")
	o, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	o = o.withDefaults()
	if len(o.Hosts) != 2 || o.Hosts[1] != 3 || o.Runs != 2 || o.oneWay() != 10*time.Millisecond || o.has(ToolCapistrano) || !o.ColdCompile {
		t.Errorf("options %+v", o)
	}
	t.Setenv("BENCH_DELAY", "0")
	if o, _ := FromEnv(); o.withDefaults().oneWay() != 0 {
		t.Errorf("BENCH_DELAY=0 gives %v, want no delay", o.oneWay())
	}
	t.Setenv("BENCH_TOOLS", "ansible")
	if _, err := FromEnv(); err == nil {
		t.Error("unknown tool accepted")
	}
}

func TestTeamGoMod(t *testing.T) {
	in := []byte("module github.com/capstan-deploy/capstan\n\ngo 1.26.8\n\ntool github.com/magefile/mage\n")
	out, err := teamGoMod(in, "/src/capstan")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"module capstanbench.example/team\n", "tool github.com/magefile/mage", "require github.com/capstan-deploy/capstan v0.0.0",
		"replace github.com/capstan-deploy/capstan => /src/capstan"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("go.mod lacks %q:\n%s", want, out)
		}
	}
}

// TestGeneratedProjectsParse checks the generated Go, Ruby and shell
// with their own parsers where they are installed.
func TestGeneratedProjectsParse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mf := filepath.Join(dir, "bench.go")
	if err := os.WriteFile(mf, []byte(teamMagefile()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gofmt", "-l", mf).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("generated magefile is not gofmt clean (%v): %s\n%s", err, out, teamMagefile())
	}
	if err := writeCapistranoProject(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("ruby"); err == nil {
		for _, f := range []string{"Capfile", "config/deploy.rb", "config/deploy/bench.rb"} {
			if out, err := exec.Command("ruby", "-c", filepath.Join(dir, f)).CombinedOutput(); err != nil {
				t.Errorf("%s: %v: %s", f, err, out)
			}
		}
	}
	script := floorScript("/srv/app/floor", "/tmp/lab/repo.git", "20261125214042", "bench")
	for _, want := range []string{"git archive", "mv /srv/app/floor/releases/current /srv/app/floor", "head -n -5",
		"ln -s /srv/app/floor/shared/tmp/pids /srv/app/floor/releases/20261125214042/tmp/pids"} {
		if !strings.Contains(script, want) {
			t.Errorf("floor script lacks %q:\n%s", want, script)
		}
	}
	driver := floorDriver("/tmp/x y/deploy.sh", [][]string{sshArgs("/k", "/kh", 2201, "u"), sshArgs("/k", "/kh", 2202, "u")})
	for _, s := range []string{script, driver} {
		cmd := exec.Command("sh", "-n")
		cmd.Stdin = strings.NewReader(s)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sh -n: %v: %s\n%s", err, out, s)
		}
	}
	if !strings.Contains(driver, "-p 2202 u@127.0.0.1 'sh -s' < '/tmp/x y/deploy.sh' &") {
		t.Errorf("driver:\n%s", driver)
	}
}

// TestFloorScriptDeploys runs the floor script locally (sh, git) against
// a throw-away repository, twice, and checks Capistrano's layout.
func TestFloorScriptDeploys(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is missing: apt-get install git (go tool mage test installs it)")
	}
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo.git")
	work := filepath.Join(dir, "work")
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@b", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@b")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	git("init", "-q", "--bare", "--initial-branch=main", repo)
	git("init", "-q", "--initial-branch=main", work)
	os.WriteFile(filepath.Join(work, "README"), []byte("hi\n"), 0o644)
	git("-C", work, "add", ".")
	git("-C", work, "commit", "-q", "-m", "one")
	git("-C", work, "push", "-q", repo, "main")

	deployTo := filepath.Join(dir, "app")
	os.MkdirAll(filepath.Join(deployTo, "shared", "config"), 0o755)
	os.WriteFile(filepath.Join(deployTo, "shared", "config", "secrets.yml"), []byte("x\n"), 0o644)
	for _, rel := range []string{"20260101000001", "20260101000002"} {
		cmd := exec.Command("sh", "-s")
		cmd.Stdin = strings.NewReader(floorScript(deployTo, repo, rel, "bench"))
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("release %s: %v: %s", rel, err, out)
		}
	}
	cur, err := os.Readlink(filepath.Join(deployTo, "current"))
	if err != nil || cur != filepath.Join(deployTo, "releases", "20260101000002") {
		t.Fatalf("current -> %q, %v", cur, err)
	}
	if _, err := os.Stat(filepath.Join(cur, "tmp", "restart.txt")); err != nil {
		t.Errorf("the floor's restart hook did not run: %v", err)
	}
	for _, f := range []string{"README", "REVISION", "REVISION_TIME", "config/secrets.yml", "log", "tmp/pids"} {
		if _, err := os.Stat(filepath.Join(cur, f)); err != nil {
			t.Error(err)
		}
	}
	log, _ := os.ReadFile(filepath.Join(deployTo, "revisions.log"))
	if n := strings.Count(string(log), "deployed as release"); n != 2 {
		t.Errorf("revisions.log has %d deploy lines:\n%s", n, log)
	}
}

func TestMarkdown(t *testing.T) {
	s := func(wall, cpu, server time.Duration, cmds int) Sample {
		return Sample{Wall: wall, CPU: cpu, ServerCPU: server, PerHost: []Counts{{cmds, cmds, 1}, {cmds, cmds, 1}, {cmds, cmds, 1}}}
	}
	hr := &HostsResult{Hosts: 3, Runs: 1, Tools: []*ToolResult{
		{Tool: ToolCapstan, Label: "Capstan", Samples: []Sample{s(1100*time.Millisecond, 50*time.Millisecond, 600*time.Millisecond, 12)}},
		{Tool: ToolCapistrano, Label: "Capistrano 3.17.2", Samples: []Sample{s(6900*time.Millisecond, 1500*time.Millisecond, 0, 40)}},
		{Tool: ToolFloor, Label: "floor (ssh + sh -s)", Samples: []Sample{s(800*time.Millisecond, 100*time.Millisecond, 450*time.Millisecond, 1)}},
	}}
	bad := &HostsResult{Hosts: 20, Err: errors.New("lab: no sshd\nmore")}
	r := &Report{Started: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Machine: "test machine", Capistrano: "3.17.2",
		Options: Options{Runs: 1, Hosts: []int{3, 20}}.withDefaults(), Results: []*HostsResult{hr, bad}}
	md := r.Markdown()
	for _, want := range []string{
		"### 3 hosts (1 deploy per tool)",
		"| Capstan | 1.10 s | 1.38x | 0.050 s | 0.200 s | 12 | 12 | 1 |",
		"| Capistrano 3.17.2 | 6.90 s | 8.62x | 1.50 s | - | 40 | 40 | 1 |",
		"| floor (ssh + sh -s) | 0.800 s | 1.00x | 0.100 s | 0.150 s | 1 | 1 | 1 |",
		"Capistrano takes 6.3x Capstan's wall time and 30.0x its client CPU.",
		"| 3 hosts: Capstan within 1.5x of the floor | 1.38x | met |",
		"| 3 hosts: Capstan at least 6x faster than Capistrano | 6.27x | met |",
		"### 20 hosts (0 deploys per tool)\n\nNot measured: lab: no sshd\n",
		"25ms each way (50ms round trip)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}
