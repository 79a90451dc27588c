package sshbackend_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
	"github.com/capstan-deploy/capstan/deploylib/lab"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// hostKey parses the host's public key of type typ.
func hostKey(t *testing.T, h *lab.Host, typ string) ssh.PublicKey {
	t.Helper()
	for _, line := range h.HostKeys {
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		if k.Type() == typ {
			return k
		}
	}
	t.Fatalf("%s has no %s key", h.Name, typ)
	return nil
}

func writeKnownHosts(t *testing.T, lines ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestUnknownHostKeyRefusedBeforeLogin(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	h := l.Hosts[0]
	cfg := l.SSHConfig(h)
	cfg.KnownHostsFiles = []string{filepath.Join(t.TempDir(), "empty_known_hosts")}
	_, err := sshbackend.Dial(context.Background(), cfg)
	var he *sshbackend.HostKeyError
	if !errors.As(err, &he) || !he.Unknown {
		t.Fatalf("Dial: %v, want an unknown *HostKeyError", err)
	}
	key := hostKey(t, h, ssh.KeyAlgoED25519)
	msg := err.Error()
	for _, want := range []string{h.Addr, "unknown", ssh.KeyAlgoED25519, ssh.FingerprintSHA256(key),
		fmt.Sprintf("ssh-keyscan -p %d -t ed25519 127.0.0.1 >> %s", h.Port, cfg.KnownHostsFiles[0]), "AcceptNewHostKeys"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	var op *sshbackend.OpError
	if !errors.As(err, &op) || op.Op != "handshake" {
		t.Errorf("OpError %+v, want op handshake", op)
	}
	if strings.Contains(h.Log(), "Accepted publickey") {
		t.Errorf("the client logged in despite the unknown host key:\n%s", h.Log())
	}
}

func TestChangedHostKeyRefused(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{Hosts: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	// host2's key recorded under host1's address: host1's key "changed".
	wrong := hostKey(t, h2, ssh.KeyAlgoED25519)
	for _, acceptNew := range []bool{false, true} {
		cfg := l.SSHConfig(h1)
		cfg.KnownHostsFiles = []string{writeKnownHosts(t, knownhosts.Line([]string{knownhosts.Normalize(h1.Addr)}, wrong))}
		cfg.AcceptNewHostKeys = acceptNew
		_, err := sshbackend.Dial(context.Background(), cfg)
		var he *sshbackend.HostKeyError
		if !errors.As(err, &he) || he.Unknown {
			t.Fatalf("AcceptNewHostKeys=%v: Dial: %v, want a changed-key *HostKeyError", acceptNew, err)
		}
		for _, want := range []string{"HOST KEY CHANGED", ssh.FingerprintSHA256(wrong),
			ssh.FingerprintSHA256(hostKey(t, h1, ssh.KeyAlgoED25519))} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message lacks %q:\n%s", want, err)
			}
		}
	}
	if strings.Contains(h1.Log(), "Accepted publickey") {
		t.Errorf("the client logged in despite the changed host key")
	}
}

func TestAcceptNewHostKeys(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	h := l.Hosts[0]
	cfg := l.SSHConfig(h)
	file := filepath.Join(t.TempDir(), "ssh", "known_hosts")
	cfg.KnownHostsFiles = []string{file}
	cfg.AcceptNewHostKeys = true
	var notices []string
	cfg.Logf = func(f string, a ...any) { notices = append(notices, fmt.Sprintf(f, a...)) }
	c, err := sshbackend.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("known_hosts mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(file)
	key := hostKey(t, h, ssh.KeyAlgoED25519)
	if want := knownhosts.Line([]string{fmt.Sprintf("[127.0.0.1]:%d", h.Port)}, key) + "\n"; string(b) != want {
		t.Errorf("known_hosts holds %q, want %q", b, want)
	}
	if len(notices) != 1 || !strings.Contains(notices[0], ssh.FingerprintSHA256(key)) {
		t.Errorf("notices %q, want one naming the fingerprint", notices)
	}
	cfg.AcceptNewHostKeys = false
	c = dial(t, cfg)
	if o, _, err := run(context.Background(), c, shell.New("echo", "ok")); err != nil || o != "ok\n" {
		t.Errorf("second dial: %q, %v", o, err)
	}
	if b2, _ := os.ReadFile(file); string(b2) != string(b) {
		t.Errorf("the second dial changed known_hosts")
	}
}

func TestHostKeyAlgorithmsFromKnownHosts(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{KeyTypes: []string{"ed25519", "ecdsa", "rsa"}})
	h := l.Hosts[0]
	pattern := knownhosts.Normalize(h.Addr)
	tests := []struct {
		name string
		line string
	}{
		{"ed25519 only", knownhosts.Line([]string{pattern}, hostKey(t, h, ssh.KeyAlgoED25519))},
		{"ecdsa only", knownhosts.Line([]string{pattern}, hostKey(t, h, ssh.KeyAlgoECDSA256))},
		{"rsa only", knownhosts.Line([]string{pattern}, hostKey(t, h, ssh.KeyAlgoRSA))},
		{"hashed ed25519", knownhosts.Line([]string{knownhosts.HashHostname(pattern)}, hostKey(t, h, ssh.KeyAlgoED25519))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := l.SSHConfig(h)
			cfg.KnownHostsFiles = []string{writeKnownHosts(t, "# comment", tt.line)}
			c := dial(t, cfg)
			if err := c.Run(context.Background(), shell.New("true"), backend.Stdio{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
