package sshbackend_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
	"github.com/capstan-deploy/capstan/deploylib/lab"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

func TestDialPausedHostTimesOut(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	h := l.Hosts[0]
	h.Pause()
	defer h.Resume()
	cfg := l.SSHConfig(h)
	cfg.HandshakeTimeout = 2 * time.Second
	start := time.Now()
	_, err := sshbackend.Dial(context.Background(), cfg)
	took := time.Since(start)
	if err == nil {
		t.Fatal("Dial to a paused sshd succeeded")
	}
	t.Logf("Dial failed after %s: %v", took, err)
	if took > 3*time.Second {
		t.Errorf("Dial took %s with HandshakeTimeout 2s", took)
	}
	var op *sshbackend.OpError
	if !errors.As(err, &op) || op.Op != "handshake" || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v: want a handshake OpError wrapping context.DeadlineExceeded", err)
	}
}

func TestDialCancelled(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	h := l.Hosts[0]
	h.Pause()
	defer h.Resume()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := sshbackend.Dial(ctx, l.SSHConfig(h))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("Dial with a 300ms context: %v after %s", err, time.Since(start))
	}
}

func TestDialRefused(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	h := l.Hosts[0]
	h.Stop()
	_, err := sshbackend.Dial(context.Background(), l.SSHConfig(h))
	var op *sshbackend.OpError
	if !errors.As(err, &op) || op.Op != "dial" || op.Addr != h.Addr {
		t.Errorf("Dial to a stopped host: %v, want a dial OpError for %s", err, h.Addr)
	}
}

func TestKeepAliveDetectsPausedHost(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	h := l.Hosts[0]
	cfg := l.SSHConfig(h)
	cfg.KeepAliveInterval = 200 * time.Millisecond
	cfg.KeepAliveMaxMissed = 3
	c := dial(t, cfg)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background(), shell.New("sleep", "30"), backend.Stdio{}) }()
	time.Sleep(300 * time.Millisecond) // the command is running
	h.Pause()
	defer h.Resume()
	start := time.Now()
	select {
	case err := <-errc:
		t.Logf("Run failed after %s: %v", time.Since(start), err)
		if !errors.Is(err, sshbackend.ErrHostStoppedAnswering) {
			t.Errorf("Run error %v does not wrap ErrHostStoppedAnswering", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run on a paused host did not fail within 5s")
	}
	err := c.Run(context.Background(), shell.New("true"), backend.Stdio{})
	if !errors.Is(err, sshbackend.ErrHostStoppedAnswering) {
		t.Errorf("later Run: %v, want ErrHostStoppedAnswering", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after the keepalive closed the connection: %v", err)
	}
}

func TestProxyJump(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{Hosts: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	cfg := l.SSHConfig(h2)
	cfg.ProxyJump = fmt.Sprintf("%s@127.0.0.1:%d", l.User, h1.Port)
	c := dial(t, cfg)
	out, _, err := run(context.Background(), c, shell.Raw(`echo "$SSH_CONNECTION"`))
	if err != nil {
		t.Fatal(err)
	}
	// The connection to host2 comes out of host1's sshd.
	if !strings.Contains(h1.Log(), fmt.Sprintf("target 127.0.0.1 port %d", h2.Port)) {
		t.Errorf("host1 forwarded no connection to host2; SSH_CONNECTION on host2: %s\n%s", out, h1.Log())
	}
	if c.Client() == nil || c.Client().Client == nil {
		t.Errorf("Client() is empty")
	}

	// The jump host's key is checked too.
	cfg.KnownHostsFiles = []string{writeKnownHosts(t, fmt.Sprintf("[127.0.0.1]:%d %s", h2.Port, h2.HostKeys[0]))}
	_, err = sshbackend.Dial(context.Background(), cfg)
	var he *sshbackend.HostKeyError
	if !errors.As(err, &he) || !he.Unknown || he.Addr != h1.Addr {
		t.Errorf("unknown jump host key: %v, want an unknown *HostKeyError for %s", err, h1.Addr)
	}
}

func TestAuthFailureNamesIdentities(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	cfg := l.SSHConfig(l.Hosts[0])
	other := filepath.Join(t.TempDir(), "other_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	missing := filepath.Join(t.TempDir(), "missing_key")
	cfg.IdentityFiles = []string{other, missing}
	_, err := sshbackend.Dial(context.Background(), cfg)
	var ae *sshbackend.AuthError
	var op *sshbackend.OpError
	if !errors.As(err, &ae) || !errors.As(err, &op) || op.Op != "auth" {
		t.Fatalf("Dial with a foreign key: %v, want an auth OpError with an *AuthError", err)
	}
	for _, want := range []string{other + " (ssh-ed25519 SHA256:", missing + " (not found)", l.User} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%s", want, err)
		}
	}
}

func TestAgentAuthAndForwarding(t *testing.T) {
	if _, err := exec.LookPath("ssh-add"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ssh-add is missing: apt-get install openssh-client (go tool mage test installs it)")
		}
		t.Skip("ssh-add not installed")
	}
	l := lab.Start(t, lab.Options{})
	b, err := os.ReadFile(l.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ssh.ParseRawPrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv, Comment: "lab-agent-key"}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { agent.ServeAgent(keyring, c); c.Close() }()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)

	cfg := l.SSHConfig(l.Hosts[0])
	cfg.IdentityFiles = []string{} // the agent's key only
	cfg.UseAgent = true
	cfg.ForwardAgent = true
	c := dial(t, cfg)
	out, stderr, err := run(context.Background(), c, shell.New("ssh-add", "-l"))
	if err != nil {
		t.Fatalf("ssh-add -l on the host: %v: %s", err, stderr)
	}
	if !strings.Contains(out, "lab-agent-key") {
		t.Errorf("forwarded agent lists %q, want the lab key", out)
	}
	// Without ForwardAgent, the host gets no agent.
	cfg.ForwardAgent = false
	c2 := dial(t, cfg)
	out, _, _ = run(context.Background(), c2, shell.Raw(`echo "[$SSH_AUTH_SOCK]"`))
	if out != "[]\n" {
		t.Errorf("agent forwarded without ForwardAgent: %q", out)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 2})
	before := runtime.NumGoroutine()
	for range 3 {
		cfg := l.SSHConfig(l.Hosts[1])
		cfg.ProxyJump = fmt.Sprintf("%s@127.0.0.1:%d", l.User, l.Hosts[0].Port)
		// Keepalives run, but with room for a loaded machine: this test
		// is about goroutines, not about declaring hosts dead.
		cfg.KeepAliveInterval = 50 * time.Millisecond
		cfg.KeepAliveMaxMissed = 40
		c, err := sshbackend.Dial(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := run(context.Background(), c, shell.New("true")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(120 * time.Millisecond) // a keepalive or two
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if !eventually(3*time.Second, func() bool { return runtime.NumGoroutine() <= before }) {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
	}
}
