package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
)

// declarativeHookCommands are what the two hooks of the benchmark's team
// project run, in their declarative form.
const (
	checkWritableCmd = "test -w /srv/shop"
	migrateCmd       = "cd /srv/shop/releases/20261125214042 && test -f REVISION"
)

// hangTwoHooks hangs, on d, a hook before deploy:check on every host and
// one after deploy:updated in the release on the app hosts: declarative
// (RemoteTask) or as Go functions doing the same.
func hangTwoHooks(d *Deployment, declarative bool) {
	if declarative {
		BeforeIn(d, Check, d.RemoteTask("app:check_writable", "Checks deploy_to is writable.", All(), InLogin, "test", "-w", "/srv/shop"))
		AfterIn(d, Updated, d.RemoteTask("app:migrate", "Migrates.", Roles("app"), InRelease, "test", "-f", "REVISION"))
		return
	}
	BeforeIn(d, Check, func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error { return h.Execute(ctx, "test", "-w", "/srv/shop") })
	})
	AfterIn(d, Updated, func(ctx context.Context) error {
		return On(ctx, Roles("app"), func(ctx context.Context, h *Host) error {
			return h.Within(h.ReleasePath()).Execute(ctx, "test", "-f", "REVISION")
		})
	})
}

// commandsPerHost runs the deploy on hosts (web1..web3 when none) and
// returns each host's remote commands.
func commandsPerHost(t *testing.T, d *Deployment, hosts ...string) map[string][]string {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"web1", "web2", "web3"}
	}
	rec, out, err := recorderRun(t, d, testStage(hosts...), Deploy, append([]backend.Rule{lockListed}, gitRules...)...)
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	perHost := map[string][]string{}
	for _, c := range rec.Log() {
		perHost[c.Host] = append(perHost[c.Host], c.Command)
	}
	return perHost
}

// TestDeclarativeHooksCostNoRound: a declarative hook before deploy:check
// runs inside the first script, before git:check, and costs no round. One
// after deploy:updated runs after the release is built, in the same
// script: on a one-host stage the script that takes the lock, and on
// several hosts the release's own script after the lock's, since of two
// runs started together the one that did not get the first host's lock
// learns so only once the scripts ran, and a team's command must not have
// run for it (lock.go); the release then costs the round it costs without
// the hook. The same hooks as Go functions cost more commands.
func TestDeclarativeHooksCostNoRound(t *testing.T) {
	for _, hosts := range [][]string{{"web1"}, {"web1", "web2", "web3"}} {
		free := commandsPerHost(t, isolate(t, testConfig()), hosts...)
		d := isolate(t, testConfig())
		hangTwoHooks(d, true)
		decl := commandsPerHost(t, d, hosts...)
		f := isolate(t, testConfig())
		hangTwoHooks(f, false)
		funcs := commandsPerHost(t, f, hosts...)
		want := deployCommandsPerHost
		for _, h := range hosts {
			t.Logf("%d hosts, %s: %d commands hook-free, %d with the declarative hooks, %d with the hooks as functions", len(hosts), h, len(free[h]), len(decl[h]), len(funcs[h]))
			if len(free[h]) != deployCommandsPerHost || len(decl[h]) != want {
				t.Errorf("%s: %d commands with the declarative hooks, %d without, want %d and %d:\n%s", h, len(decl[h]), len(free[h]), want, deployCommandsPerHost, strings.Join(decl[h], "\n----\n"))
			}
			if len(funcs[h]) <= len(decl[h]) {
				t.Errorf("%s: %d commands with the hooks as functions, want more than the declarative %d", h, len(funcs[h]), len(decl[h]))
			}
			if len(decl[h]) < 2 {
				continue
			}
			// Before deploy:check: first in the first script, before git:check.
			first := decl[h][0]
			if i, j := strings.Index(first, checkWritableCmd), strings.Index(first, "git ls-remote"); i < 0 || j < 0 || i > j {
				t.Errorf("%s: the first script does not run %q before git:check:\n%s", h, checkWritableCmd, first)
			}
			// After deploy:updated: after the linked dirs, in the lock's
			// script; on several hosts after the run's go-ahead, which
			// says that the run holds the lock everywhere (decide).
			migrate := decl[h][0]
			if i, j := strings.Index(migrate, migrateCmd), strings.LastIndex(migrate, "ln -s"); i < 0 || j < 0 || i < j {
				t.Errorf("%s: the lock's script does not run %q after deploy:symlink:linked_dirs:\n%s", h, migrateCmd, migrate)
			}
			wait := strings.Index(migrate, "read -r capstan_a")
			if len(hosts) > 1 && (wait < 0 || wait > strings.Index(migrate, migrateCmd) || wait < strings.LastIndex(migrate, "ln -s")) {
				t.Errorf("%s: the lock's script does not await the go-ahead right before %q:\n%s", h, migrateCmd, migrate)
			}
			if len(hosts) == 1 && wait >= 0 {
				t.Errorf("%s: on one host the script awaits a go-ahead:\n%s", h, migrate)
			}
		}
	}
}

// TestDeclarativeHookFails: a declarative hook failing on one host fails
// its task naming the host, the command and the exit status, the tasks
// after it do not run, and deploy:failed runs, as for a standard task.
func TestDeclarativeHookFails(t *testing.T) {
	d := isolate(t, testConfig())
	hangTwoHooks(d, true)
	rules := append([]backend.Rule{lockListed}, gitRules...)
	fail := backend.Rule{Match: migrateCmd, Reply: backend.Reply{Stderr: "no REVISION\n", Status: 3}}
	rec := backend.NewRecorder("", rules...)
	failing := backend.NewRecorder("", append([]backend.Rule{fail}, rules...)...) // web2's
	var b strings.Builder
	err := d.Start(context.Background(), Deploy, WithStage(testStage("web1", "web2", "web3")), WithOutput(&b), WithColor(false),
		WithClock(fixedClock(0)), func(o *runOptions) { o.runID = "run0001" },
		WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) {
			if s.Host == "web2" {
				return failing.ForHost(s.Host), nil
			}
			return rec.ForHost(s.Host), nil
		}))
	out := b.String()
	var te *TaskError
	if !errors.As(err, &te) || te.Task != "app:migrate" {
		t.Fatalf("deploy: %v, want app:migrate to fail\n%s", err, out)
	}
	for _, want := range []string{"web2", "test -f REVISION", "exit status 3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %q: %v", want, err)
		}
	}
	if !strings.Contains(out, "deploy:failed") {
		t.Errorf("deploy:failed did not run:\n%s", out)
	}
	for _, c := range append(rec.Log(), failing.Log()...) {
		if strings.Contains(c.Command, "ln -sfn") || strings.Contains(c.Command, "mv -T") {
			t.Errorf("%s: current was switched after the hook failed: %s", c.Host, c.Command)
		}
	}
}

// TestRemoteTaskAlone: a declarative task run on its own (mage <stage>
// task app:restart) sends its command, in its directory, to the hosts it
// selects, a NoRelease server included; a dry run prints it and runs
// nothing.
func TestRemoteTaskAlone(t *testing.T) {
	st := testStage("web1", "web2")
	st.Servers = append(st.Servers, Server{Host: "db1", Roles: []string{"db"}, NoRelease: true})
	tests := []struct {
		name string
		sel  Selector
		dir  Dir
		want map[string]string
	}{
		{"roles in current", Roles("app"), InCurrent, map[string]string{
			"web1": "cd /srv/shop/current && touch tmp/restart.txt", "web2": "cd /srv/shop/current && touch tmp/restart.txt"}},
		{"primary in a path", Primary("app"), InDir("/var/app"), map[string]string{"web1": "cd /var/app && touch tmp/restart.txt"}},
		{"a NoRelease server", Roles("db"), InLogin, map[string]string{"db1": "touch tmp/restart.txt"}},
		{"all", All(), InLogin, map[string]string{"web1": "touch tmp/restart.txt", "web2": "touch tmp/restart.txt", "db1": "touch tmp/restart.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := isolate(t, testConfig())
			task := d.RemoteTask("app:restart", "Restarts the app.", tt.sel, tt.dir, "touch", "tmp/restart.txt")
			if got, err := d.TaskByName("app:restart"); err != nil || got != task {
				t.Fatalf("TaskByName(app:restart) = %v, %v", got, err)
			}
			rec, out, err := recorderRun(t, d, st, task)
			if err != nil {
				t.Fatalf("app:restart: %v\n%s", err, out)
			}
			got := map[string]string{}
			for _, c := range rec.Log() {
				if _, dup := got[c.Host]; dup {
					t.Errorf("%s: a second command %q", c.Host, c.Command)
				}
				got[c.Host] = c.Command
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("commands %v, want %v\n%s", got, tt.want, out)
			}
		})
	}
	t.Run("dry run", func(t *testing.T) {
		d := isolate(t, testConfig())
		task := d.RemoteSh("app:restart", "Restarts the app.", Roles("app"), InCurrent, "mkdir -p tmp && touch tmp/restart.txt")
		rec := backend.NewRecorder("")
		var out strings.Builder
		err := d.Start(context.Background(), task, WithStage(st), WithOutput(&out), WithColor(false), WithClock(fixedClock(0)), WithDryRun(),
			WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) { return rec.ForHost(s.Host), nil }))
		if err != nil {
			t.Fatalf("dry run: %v\n%s", err, out.String())
		}
		if n := len(rec.Log()); n != 0 {
			t.Errorf("a dry run ran %d commands", n)
		}
		o := out.String()
		if !strings.Contains(o, "mkdir -p tmp && touch tmp/restart.txt") || !strings.Contains(o, "web1 not run") ||
			!strings.Contains(o, "web2 not run") || strings.Contains(o, "db1 not run") {
			t.Errorf("the dry run does not show the line for web1 and web2 only:\n%s", o)
		}
	})
}

// TestDeclarativeHookOnANoReleaseServer: a declarative hook that selects
// a NoRelease server cannot join the release hosts' scripts: it runs on
// its own, where the flow runs it, on every host it selects.
func TestDeclarativeHookOnANoReleaseServer(t *testing.T) {
	st := testStage("web1", "web2")
	st.Servers = append(st.Servers, Server{Host: "db1", Roles: []string{"db"}, NoRelease: true})
	d := isolate(t, testConfig())
	AfterIn(d, Updated, d.RemoteTask("app:notify", "Notifies.", All(), InLogin, "true"))
	rec, out, err := recorderRun(t, d, st, Deploy, append([]backend.Rule{lockListed}, gitRules...)...)
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	for _, h := range []string{"web1", "web2", "db1"} {
		if !slicesContainsCmd(rec.Log(), h, "true") {
			t.Errorf("%s did not run the hook on its own:\n%s", h, transcript(rec))
		}
	}
}

func slicesContainsCmd(log []backend.Record, host, cmd string) bool {
	for _, c := range log {
		if c.Host == host && c.Command == cmd {
			return true
		}
	}
	return false
}

// TestDeclarativeTaskWithHooksIsABarrier: hooks hung on a declarative
// task make it a barrier, as any hooked task: its own step runs alone.
func TestDeclarativeTaskWithHooksIsABarrier(t *testing.T) {
	d := isolate(t, testConfig())
	migrate := d.RemoteTask("app:migrate", "Migrates.", Roles("app"), InRelease, "test", "-f", "REVISION")
	AfterIn(d, Updated, migrate)
	BeforeIn(d, migrate, func(context.Context) error { return nil })
	perHost := commandsPerHost(t, d)
	for h, cmds := range perHost {
		if !slicesContainsCmd(recordsOf(h, cmds), h, migrateCmd) {
			t.Errorf("%s: app:migrate did not run alone:\n%s", h, strings.Join(cmds, "\n----\n"))
		}
	}
}

func recordsOf(host string, cmds []string) []backend.Record {
	var out []backend.Record
	for _, c := range cmds {
		out = append(out, backend.Record{Host: host, Command: c})
	}
	return out
}

// TestDeclarativeHooksRunWhereTheFlowShowsThem: declarative hooks hung
// before, after and appended run, fused, in the order mage flow deploy
// prints them; on three hosts, the deploy sends as many commands per host
// as a hook-free one: app:migrate travels in the lock's script, after the
// run's go-ahead.
func TestDeclarativeHooksRunWhereTheFlowShowsThem(t *testing.T) {
	d := isolate(t, testConfig())
	hangTwoHooks(d, true)
	AppendIn(d, Publishing, d.RemoteTask("app:restart", "Restarts.", All(), InCurrent, "touch", "tmp/restart.txt"))
	var flow strings.Builder
	if err := d.PrintFlow(&flow, Deploy); err != nil {
		t.Fatal(err)
	}
	// A task's own work runs after its steps: the printed tree in post
	// order is the order tasks report.
	var printed, stack []string
	for _, line := range strings.Split(strings.Split(flow.String(), "(when a task above fails)")[0], "\n") {
		for len(stack) > 0 && depth(stack[len(stack)-1]) >= depth(line) {
			printed, stack = append(printed, stack[len(stack)-1]), stack[:len(stack)-1]
		}
		stack = append(stack, line)
	}
	rec, out, err := recorderRun(t, d, testStage("web1", "web2", "web3"), Deploy, append([]backend.Rule{lockListed}, gitRules...)...)
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	var ran []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && len(f[0]) == 5 && f[0][2] == ':' {
			ran = append(ran, f[1])
		}
	}
	// Every task reported runs in the order the flow prints it.
	j := 0
	for _, name := range ran {
		for j < len(printed) && strings.TrimSpace(printed[j]) != name {
			j++
		}
		if j == len(printed) {
			t.Fatalf("%s ran out of the printed order:\nran: %v\nflow:\n%s", name, ran, flow.String())
		}
	}
	for _, hook := range []string{"app:check_writable", "app:migrate", "app:restart"} {
		if !slices.Contains(ran, hook) {
			t.Errorf("%s did not run: %v", hook, ran)
		}
	}
	perHost := map[string]int{}
	for _, c := range rec.Log() {
		perHost[c.Host]++
	}
	for h, n := range perHost {
		if n != deployCommandsPerHost {
			t.Errorf("%s: %d commands with three declarative hooks, want %d", h, n, deployCommandsPerHost)
		}
	}
}
