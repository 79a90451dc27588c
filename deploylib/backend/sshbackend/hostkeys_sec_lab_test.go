package sshbackend_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
	"github.com/capstan-deploy/capstan/deploylib/lab"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Three targets behind one bastion whose key is not yet known, dialled at
// once with AcceptNewHostKeys: the bastion's key is recorded once.
func TestAcceptNewBastionRecordedOnce(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{Hosts: 4})
	bastion := l.Hosts[0]
	var known []string
	for _, h := range l.Hosts[1:] {
		known = append(known, fmt.Sprintf("[127.0.0.1]:%d %s", h.Port, h.HostKeys[0]))
	}
	file := writeKnownHosts(t, known...)
	var wg sync.WaitGroup
	for _, h := range l.Hosts[1:] {
		wg.Go(func() {
			cfg := l.SSHConfig(h)
			cfg.KnownHostsFiles = []string{file}
			cfg.AcceptNewHostKeys = true
			cfg.ProxyJump = fmt.Sprintf("%s@127.0.0.1:%d", l.User, bastion.Port)
			c, err := sshbackend.Dial(context.Background(), cfg)
			if err != nil {
				t.Errorf("%s: %v", h.Name, err)
				return
			}
			c.Close()
		})
	}
	wg.Wait()
	b, _ := os.ReadFile(file)
	if n := strings.Count(string(b), fmt.Sprintf("[127.0.0.1]:%d ", bastion.Port)); n != 1 {
		t.Errorf("the bastion's key is recorded %d times:\n%s", n, b)
	}
}

// A known_hosts line that does not parse (for another host) does not stop
// connections: it is skipped with a warning, and an unknown host is still
// refused.
func TestBadKnownHostsLineSkipped(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{Hosts: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	file := writeKnownHosts(t,
		"old.example.com ssh-rsa this-is-not-base64",
		fmt.Sprintf("[127.0.0.1]:%d %s", h1.Port, h1.HostKeys[0]))
	var warnings []string
	var mu sync.Mutex
	cfg := l.SSHConfig(h1)
	cfg.KnownHostsFiles = []string{file}
	cfg.Logf = func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		warnings = append(warnings, fmt.Sprintf(f, a...))
	}
	c := dial(t, cfg)
	if o, _, err := run(context.Background(), c, shell.New("echo", "ok")); err != nil || o != "ok\n" {
		t.Errorf("run: %q, %v", o, err)
	}
	cfg2 := cfg
	cfg2.Host, cfg2.Port = "127.0.0.1", h2.Port
	_, err := sshbackend.Dial(context.Background(), cfg2)
	var he *sshbackend.HostKeyError
	if !errors.As(err, &he) || !he.Unknown {
		t.Errorf("unknown host2: %v, want refused", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(warnings) != 1 || !strings.Contains(warnings[0], "line 1 of "+file) {
		t.Errorf("warnings %q, want one about line 1", warnings)
	}
}

// IdentityFiles, KnownHostsFiles and SSHConfigFile starting with ~/ are
// read from the home directory.
func TestTildePathsExpanded(t *testing.T) {
	l := lab.Start(t, lab.Options{})
	h := l.Hosts[0]
	home := t.TempDir()
	for from, to := range map[string]string{l.ClientKey: "id_deploy", l.KnownHosts: "known_hosts_deploy"} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(home+"/.ssh", 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(home+"/.ssh/"+to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(home+"/.ssh/config_deploy", []byte("Host labhost\n  HostName 127.0.0.1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	cfg := l.SSHConfig(h)
	cfg.Host = "labhost"
	cfg.IdentityFiles = []string{"~/.ssh/id_deploy"}
	cfg.KnownHostsFiles = []string{"~/.ssh/known_hosts_deploy"}
	cfg.SSHConfigFile = "~/.ssh/config_deploy"
	c := dial(t, cfg)
	if o, _, err := run(context.Background(), c, shell.New("echo", "ok")); err != nil || o != "ok\n" {
		t.Errorf("run: %q, %v", o, err)
	}
}
