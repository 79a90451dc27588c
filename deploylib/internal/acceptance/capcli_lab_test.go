package acceptance_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// TestSSHTasksComposeOneRelease: mage lab task "deploy:check
// deploy:new_release_path git:create_release" composes, as cap lab
// deploy:check deploy:new_release_path git:create_release does, into one
// release of the branch's head with the same name on every host, under
// the one lock deploy:check takes, gone afterwards; nothing is published.
func TestSSHTasksComposeOneRelease(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 2})
	d := configure(t, l)
	prepareShared(t, l)
	st := sshStage(l)
	tasks, err := d.TasksByName("deploy:check deploy:new_release_path,git:create_release")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)
	var out bytes.Buffer
	err = d.StartTasks(context.Background(), tasks, deploylib.WithStage(st), deploylib.WithOutput(&out),
		deploylib.WithColor(false), deploylib.WithClock(func() time.Time { return at }))
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "deploy:check deploy:new_release_path git:create_release finished: release 20261125214038") {
		t.Errorf("console:\n%s", out.String())
	}
	head := l.Commits[len(l.Commits)-1]
	var names []string
	for _, h := range l.Hosts {
		local := filepath.Join(h.Root, "app")
		entries, err := os.ReadDir(filepath.Join(local, "releases"))
		if err != nil || len(entries) != 1 {
			t.Fatalf("%s: releases/ holds %v (%v), want one release", h.Name, entries, err)
		}
		name := entries[0].Name()
		names = append(names, name)
		rev, _ := os.ReadFile(filepath.Join(local, "releases", name, "REVISION"))
		if string(rev) != head+"\n" {
			t.Errorf("%s: REVISION %q, want %s", h.Name, rev, head)
		}
		if _, err := os.Stat(filepath.Join(local, "releases", name, "README.md")); err != nil {
			t.Errorf("%s: the release has no files: %v", h.Name, err)
		}
		if _, err := os.Stat(filepath.Join(local, ".capstan/unfinished", name)); err != nil {
			t.Errorf("%s: the unpublished release is not marked unfinished: %v", h.Name, err)
		}
		if _, err := os.Lstat(filepath.Join(local, "current")); err == nil {
			t.Errorf("%s: current exists; nothing was to be published", h.Name)
		}
		if _, err := os.Lstat(filepath.Join(local, ".capstan/lock")); err == nil {
			t.Errorf("%s: the lock outlived the run", h.Name)
		}
	}
	if names[0] != names[1] || !strings.Contains(out.String(), "release "+names[0]) {
		t.Errorf("release names %v, want one name for the run (console:\n%s)", names, out.String())
	}
}

// TestSSHDownload: mage lab download FILE DIR copies FILE, relative to
// the current release or absolute, from every selected host into
// DIR/<host>/; a missing file names the host and the path, and a
// directory that cannot be written is refused before any host is asked.
func TestSSHDownload(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 2})
	d := configure(t, l)
	prepareShared(t, l)
	st := sshStage(l)
	if out, err := start(t, d, st, deploylib.Deploy, time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	head := l.Commits[len(l.Commits)-1]
	download := func(remote, dir string) (string, error) {
		var out bytes.Buffer
		err := d.DownloadFiles(context.Background(), remote, dir, deploylib.WithStage(st), deploylib.WithOutput(&out), deploylib.WithColor(false))
		return out.String(), err
	}
	hostDir := func(h *lab.Host) string { return l.User + "@" + strings.ReplaceAll(h.Addr, ":", "_") }

	dir := filepath.Join(t.TempDir(), "fetched")
	tests := []struct {
		name, remote, hosts, file string
		want                      func(h *lab.Host) string
	}{
		{"relative to current", "REVISION", "", "REVISION", func(*lab.Host) string { return head + "\n" }},
		{"absolute", l.Hosts[0].DeployTo + "/shared/config/secrets.yml", "", "secrets.yml", func(h *lab.Host) string { return "secret of " + h.Name + "\n" }},
		{"HOSTS", "REVISION", l.Hosts[1].Addr, "REVISION", func(*lab.Host) string { return head + "\n" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HOSTS", tt.hosts)
			dir := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			out, err := download(tt.remote, dir)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			for _, h := range l.Hosts {
				got, err := os.ReadFile(filepath.Join(dir, hostDir(h), tt.file))
				if tt.hosts != "" && h.Addr != tt.hosts {
					if err == nil {
						t.Errorf("%s was not selected, and its file was downloaded", h.Name)
					}
					continue
				}
				if err != nil || string(got) != tt.want(h) {
					t.Errorf("%s: %q, %v; want %q\n%s", h.Name, got, err, tt.want(h), out)
				}
			}
		})
	}

	out, err := download("log/missing.log", dir)
	for _, want := range []string{l.Hosts[0].Addr, l.Hosts[1].Addr, l.Hosts[0].DeployTo + "/current/log/missing.log", "No such file"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing file: error %v does not say %q\n%s", err, want, out)
		}
	}
	notDir := filepath.Join(t.TempDir(), "a-file")
	os.WriteFile(notDir, nil, 0o644)
	out, err = download("REVISION", notDir)
	if err == nil || !strings.Contains(err.Error(), "cannot create the local directory "+notDir) {
		t.Errorf("a file as DIR: error %v\n%s", err, out)
	}
	if strings.Contains(out, "REVISION ->") {
		t.Errorf("a host was asked although DIR cannot be written:\n%s", out)
	}
}

// TestSSHShellReadsCapstansFiles: mage lab ssh runs the system's ssh with
// the files Capstan's own SSH reads. The stage names its known_hosts and
// key with "~/", and $HOME is not the account's home directory: ssh left
// to itself expands "~" with the account's home (getpwuid) and finds
// neither, so it refuses the host key.
func TestSSHShellReadsCapstansFiles(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 1})
	d := configure(t, l)
	prepareShared(t, l)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("CAPSTAN_SHELL_NO_EXEC", "1")
	for from, to := range map[string]string{l.KnownHosts: "kh", l.ClientKey: "key"} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, to), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st := sshStage(l)
	st.SSH = deploylib.SSHOptions{KnownHostsFile: "~/kh", KnownHostsOnly: true, IdentityFiles: []string{"~/key"}}

	// The login shell reads its commands from standard input.
	h := l.Hosts[0]
	script := filepath.Join(t.TempDir(), "script")
	os.WriteFile(script, []byte("pwd > "+h.DeployTo+"/shell-was-here\nexit 0\n"), 0o644)
	in, err := os.Open(script)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	stdin := os.Stdin
	os.Stdin = in
	defer func() { os.Stdin = stdin }()

	var out bytes.Buffer
	if err := d.OpenShell(context.Background(), "", deploylib.WithStage(st), deploylib.WithOutput(&out), deploylib.WithColor(false)); err != nil {
		t.Fatalf("ssh: %v\n%s", err, out.String())
	}
	got, err := os.ReadFile(filepath.Join(h.Root, "app", "shell-was-here"))
	if err != nil || string(got) != h.DeployTo+"\n" {
		t.Errorf("the shell did not run in %s: %q, %v\n%s", h.DeployTo, got, err, out.String())
	}
}
