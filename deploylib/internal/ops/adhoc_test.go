package ops

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
	"github.com/capstan-deploy/capstan/deploylib/internal/enginetest"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// TestRunAdHocLocal runs ad-hoc commands on a local deploy: in the
// current release, output prefixed by host, the exit status passed on.
func TestRunAdHocLocal(t *testing.T) {
	t.Parallel()
	repo := enginetest.NewGitRepo(t)
	d := isolate(t, engine.Config{Application: "app"})
	st, err := engine.LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := deploy(t, d, st, engine.Deploy, time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	run := func(command string) (string, error) {
		var out bytes.Buffer
		err := d.RunAdHoc(context.Background(), command, engine.WithStage(st), engine.WithOutput(&out), engine.WithColor(false), engine.WithClock(enginetest.FixedClock(0)))
		return out.String(), err
	}
	out, err := run(`pwd; cat README; echo "to stderr" >&2`)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"00:00 run\n",
		"      01 localhost | " + filepath.Join(st.DeployTo, "current") + "\n",
		"      01 localhost | v1\n",
		"      01 localhost | to stderr\n",
		"    ✔ 01 localhost 0.000s\n",
		"run finished: 1 host",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, err = run("echo half; exit 3")
	var ae *adhocError
	if !errors.As(err, &ae) || ae.ExitStatus() != 3 {
		t.Fatalf("error = %v, want an adhocError with exit status 3\n%s", err, out)
	}
	if !strings.Contains(out, "    ✘ 01 localhost 0.000s\n") || !strings.Contains(err.Error(), "failed on 1 of 1 hosts: localhost (exit status 3)") {
		t.Errorf("failure not shown:\n%s\n%v", out, err)
	}

	if _, err := run("  "); err == nil || !strings.Contains(err.Error(), "give the command") {
		t.Errorf("empty command: %v", err)
	}
}

// TestRunAdHocFilters: HOSTS and ROLES pick the hosts, every host gets
// the operator's command as typed, in current, and a failure on one host
// names it.
func TestRunAdHocFilters(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	st := engine.Stage{Name: "prod", Servers: []engine.Server{
		{Host: "deploy@web1", Roles: []string{"app"}},
		{Host: "deploy@web2", Roles: []string{"app"}},
		{Host: "deploy@db1", Roles: []string{"db"}},
	}}
	recs := map[string]*backend.Recorder{
		"deploy@web1": backend.NewRecorder("deploy@web1"),
		"deploy@web2": backend.NewRecorder("deploy@web2", backend.Rule{Match: "uptime", Reply: backend.Reply{Status: 2, Stderr: "uptime: not found\n"}}),
		"deploy@db1":  backend.NewRecorder("deploy@db1"),
	}
	setenv(d, "ROLES", "app")
	var out bytes.Buffer
	err := d.RunAdHoc(context.Background(), "uptime | cut -d, -f1", engine.WithStage(st), engine.WithOutput(&out), engine.WithColor(false), perHostDialer(recs))
	var ae *adhocError
	if !errors.As(err, &ae) || ae.ExitStatus() != 2 || !strings.Contains(err.Error(), "failed on 1 of 2 hosts: deploy@web2 (exit status 2)") {
		t.Fatalf("error = %v", err)
	}
	want := "cd /srv/shop/current 2>/dev/null ; ( uptime | cut -d, -f1 )"
	for host, rec := range recs {
		var got []string
		for _, c := range rec.Log() {
			got = append(got, c.Command)
		}
		if host == "deploy@db1" {
			if len(got) != 0 {
				t.Errorf("ROLES=app ran on db1: %v", got)
			}
			continue
		}
		if !slices.Equal(got, []string{want}) {
			t.Errorf("%s ran %q, want %q", host, got, want)
		}
	}
	if !strings.Contains(out.String(), "    ✘ 01 deploy@web2 0.000s\n        uptime: not found\n") {
		t.Errorf("console:\n%s", out.String())
	}
}

// TestSSHArgv: the ssh command line of mage <stage> ssh. ssh reads the
// files Capstan's own SSH reads, "~" expanded against $HOME (ssh would
// expand it with the account's home directory and read its own
// defaults from there): the config file (-F, none when $HOME has none),
// the known_hosts files (the global one off) and the identities.
func TestSSHArgv(t *testing.T) {
	const remote = `cd /srv/shop/current 2>/dev/null || cd /srv/shop 2>/dev/null ; exec sh -c 'exec "${SHELL:-/bin/sh}" -l'`
	tests := []struct {
		name string
		host string
		opts engine.SSHOptions
		home []string // files made under $HOME
		tty  bool
		want []string // $HOME stands for the home directory
	}{
		{"plain", "deploy@web1", engine.SSHOptions{}, nil, true,
			[]string{"ssh", "-t", "-F", "none", "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=none",
				"-o", "UserKnownHostsFile=$HOME/.ssh/known_hosts", "--", "deploy@web1", remote}},
		{"no terminal, port, no user", "web1:2222", engine.SSHOptions{}, nil, false,
			[]string{"ssh", "-F", "none", "-p", "2222", "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=none",
				"-o", "UserKnownHostsFile=$HOME/.ssh/known_hosts", "--", "web1", remote}},
		{"ipv6", "deploy@[::1]:2222", engine.SSHOptions{}, nil, false,
			[]string{"ssh", "-F", "none", "-p", "2222", "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=none",
				"-o", "UserKnownHostsFile=$HOME/.ssh/known_hosts", "--", "deploy@::1", remote}},
		{"defaults read from $HOME", "deploy@web1", engine.SSHOptions{}, []string{".ssh/config", ".ssh/id_ed25519", ".ssh/id_rsa"}, false,
			[]string{"ssh", "-F", "$HOME/.ssh/config", "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=none",
				"-o", "UserKnownHostsFile=$HOME/.ssh/known_hosts", "-i", "$HOME/.ssh/id_ed25519", "-i", "$HOME/.ssh/id_rsa",
				"--", "deploy@web1", remote}},
		{"every option", "deploy@web1", engine.SSHOptions{
			KnownHostsFile: "/etc/capstan/known hosts", AcceptNewHostKeys: true,
			IdentityFiles: []string{"~/.ssh/deploy", "/keys/b"}, ForwardAgent: true,
			ProxyJump: "ops@bastion:22", ConfigFile: "~/ssh_config"}, []string{"ssh_config"}, true,
			[]string{"ssh", "-t", "-F", "$HOME/ssh_config", "-o", "StrictHostKeyChecking=accept-new", "-o", "GlobalKnownHostsFile=none",
				"-o", `UserKnownHostsFile="/etc/capstan/known hosts" $HOME/.ssh/known_hosts`,
				"-i", "$HOME/.ssh/deploy", "-i", "/keys/b", "-A",
				"-o", `ProxyCommand=ssh -W '[%h]:%p' -F $HOME/ssh_config -o StrictHostKeyChecking=accept-new -o GlobalKnownHostsFile=none -o 'UserKnownHostsFile="/etc/capstan/known hosts" $HOME/.ssh/known_hosts' -i $HOME/.ssh/deploy -i /keys/b -o ProxyCommand=none -l ops -p 22 -- bastion`,
				"--", "deploy@web1", remote}},
		{"known hosts only, from ~", "deploy@web1", engine.SSHOptions{KnownHostsFile: "~/kh", KnownHostsOnly: true, ConfigFile: "none"}, nil, false,
			[]string{"ssh", "-F", "none", "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=none",
				"-o", "UserKnownHostsFile=$HOME/kh", "--", "deploy@web1", remote}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			t.Setenv("HOME", home)
			for _, f := range tt.home {
				os.MkdirAll(filepath.Dir(filepath.Join(home, f)), 0o700)
				if err := os.WriteFile(filepath.Join(home, f), []byte("# a test's file\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			a, err := engine.ParseAddress(tt.host)
			if err != nil {
				t.Fatal(err)
			}
			cfg := engine.SSHConfig(tt.opts, engine.Server{Host: tt.host})
			jumps, err := cfg.JumpHosts()
			if err != nil {
				t.Fatal(err)
			}
			files, err := cfg.Files()
			if err != nil {
				t.Fatal(err)
			}
			got := sshArgv(a, tt.opts, files, jumps, "/srv/shop/current", "/srv/shop", tt.tty)
			want := make([]string, len(tt.want))
			for i, w := range tt.want {
				want[i] = strings.ReplaceAll(w, "$HOME", home)
			}
			if !slices.Equal(got, want) {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}
}

// TestShellLocal opens the shell of a local stage, in the current
// release, with $SHELL a script that records where it started.
func TestShellLocal(t *testing.T) {
	repo := enginetest.NewGitRepo(t)
	d := isolate(t, engine.Config{Application: "app"})
	st, err := engine.LocalStage(repo)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "fake-shell")
	record := filepath.Join(dir, "where")
	os.WriteFile(script, []byte("#!/bin/sh\npwd > "+record+"\n"), 0o755)
	t.Setenv("SHELL", script)
	t.Setenv("CAPSTAN_SHELL_NO_EXEC", "1")
	shell := func(host string) (string, error) {
		var out bytes.Buffer
		err := OpenShell(context.Background(), host, engine.WithStage(st), engine.WithOutput(&out), engine.WithColor(false))
		return out.String(), err
	}

	// Before any deploy there is no current: the shell starts in deploy_to
	// if it exists, else where mage runs.
	os.MkdirAll(st.DeployTo, 0o755)
	if out, err := shell(""); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	enginetest.AssertFile(t, record, st.DeployTo+"\n")

	if out, err := deploy(t, d, st, engine.Deploy, time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	out, err := shell("localhost")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	enginetest.AssertFile(t, record, filepath.Join(st.DeployTo, "current")+"\n")
	if !strings.Contains(out, "shell on localhost in "+filepath.Join(st.DeployTo, "current")) {
		t.Errorf("console:\n%s", out)
	}

	if _, err := shell("web9"); err == nil || !strings.Contains(err.Error(), `no selected server is called "web9"; choose one of localhost`) {
		t.Errorf("unknown host: %v", err)
	}
}

// TestPickHost: mage <stage> ssh -host= accepts what HOSTS accepts, and a
// name several servers share lists them as the stage writes them.
func TestPickHost(t *testing.T) {
	var hosts []*engine.Host
	for _, s := range []string{"deploy@127.0.0.1:2201", "deploy@127.0.0.1:2202", "deploy@127.0.0.1:2203", "ops@web1"} {
		a, _ := engine.ParseAddress(s)
		hosts = append(hosts, &engine.Host{Server: engine.Server{Host: s}, Address: a})
	}
	tests := []struct {
		arg, want, wantErr string
	}{
		{"", "deploy@127.0.0.1:2201", ""},
		{"127.0.0.1:2203", "deploy@127.0.0.1:2203", ""},
		{"deploy@127.0.0.1:2202", "deploy@127.0.0.1:2202", ""},
		{"web1", "ops@web1", ""},
		{"ops@web1", "ops@web1", ""},
		{"127.0.0.1", "", `"127.0.0.1" names 3 servers (deploy@127.0.0.1:2201, deploy@127.0.0.1:2202, deploy@127.0.0.1:2203); give the port too`},
		{"web9", "", `no selected server is called "web9"; choose one of deploy@127.0.0.1:2201, deploy@127.0.0.1:2202, deploy@127.0.0.1:2203, ops@web1`},
	}
	for _, tt := range tests {
		h, err := pickHost(hosts, tt.arg)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("pickHost(%q) error = %v, want %q", tt.arg, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("pickHost(%q): %v", tt.arg, err)
		case h.Server.Host != tt.want:
			t.Errorf("pickHost(%q) = %s, want %s", tt.arg, h.Server.Host, tt.want)
		}
	}
}

// slowConn makes every command take at least d of wall time.
type slowConn struct {
	backend.Conn
	d time.Duration
}

func (c slowConn) Run(ctx context.Context, cmd shell.Command, stdio backend.Stdio) error {
	time.Sleep(c.d) // wall time passing, not synchronisation
	return c.Conn.Run(ctx, cmd, stdio)
}

// A run of an isolated Deployment prints the same durations however long
// its commands take on the wall clock (TestRunAdHocFilters printed
// 0.001s on a busy CI machine).
func TestIsolatedRunsIgnoreTheWallClock(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	st := appStage("deploy@web1")
	run := func() string {
		var out bytes.Buffer
		err := d.RunAdHoc(context.Background(), "uptime", engine.WithStage(st), engine.WithOutput(&out), engine.WithColor(false), engine.WithLogFile(""),
			engine.WithDialer(func(ctx context.Context, s engine.Server) (backend.Conn, error) {
				return slowConn{backend.NewRecorder(s.Host), 20 * time.Millisecond}, nil
			}))
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		return out.String()
	}
	out := run()
	for _, want := range []string{"00:00 run\n", "    ✔ 01 deploy@web1 0.000s\n", "run finished: 1 host, 0.0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}
	// The engine's TestIsolatedRunsGetLaterTimes checks the clocks.
}
