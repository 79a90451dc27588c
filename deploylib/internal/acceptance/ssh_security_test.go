package acceptance_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// An unparseable known_hosts line does not stop a run: the console warns
// about it once, and every host is still verified.
func TestSSHBadKnownHostsLineWarnsOnce(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 2})
	d := configure(t, l)
	prepareShared(t, l)
	st := sshStage(l)
	b, err := os.ReadFile(l.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	file := t.TempDir() + "/known_hosts"
	if err := os.WriteFile(file, append([]byte("|1|broken-hash ssh-ed25519 AAAA\n"), b...), 0o600); err != nil {
		t.Fatal(err)
	}
	st.SSH.KnownHostsFile = file
	out, err := start(t, d, st, deploylib.Check, time.Now())
	if err != nil {
		t.Fatalf("deploy:check: %v\n%s", err, out)
	}
	if n := strings.Count(out, "WARN skipping line 1 of "+file); n != 1 {
		t.Errorf("%d warnings about line 1, want 1:\n%s", n, out)
	}
}

// mage <stage> ssh through a jump host checks the jump host's key with the
// stage's policy (KnownHostsFile, KnownHostsOnly), not with the one of the
// SSH config (here, accept-new into a file of its own).
func TestSSHShellJumpHostUsesStageHostKeyPolicy(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ssh is not installed")
		}
		t.Skip("ssh is not installed")
	}
	l := lab.Start(t, lab.Options{Hosts: 3})
	d := configure(t, l)
	bastion, middle, target := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	dir := t.TempDir()
	userKnown := filepath.Join(dir, "user_known_hosts")
	config := filepath.Join(dir, "ssh_config")
	os.WriteFile(config, []byte(fmt.Sprintf("Host labtarget\n  HostName 127.0.0.1\n  Port %d\n  ProxyJump %s@127.0.0.1:%d\n", target.Port, l.User, bastion.Port)+
		"Host *\n  StrictHostKeyChecking accept-new\n  UserKnownHostsFile "+userKnown+"\n  BatchMode yes\n"), 0o600)
	line := func(h *lab.Host) string { return fmt.Sprintf("[127.0.0.1]:%d %s\n", h.Port, h.HostKeys[0]) }
	stageKnown := filepath.Join(dir, "stage_known_hosts")
	t.Setenv("CAPSTAN_SHELL_NO_EXEC", "1")
	for _, tt := range []struct {
		name  string
		known []*lab.Host
		jump  string
		ok    bool
	}{
		{"one jump, unknown to the stage", []*lab.Host{target}, "%[1]s@127.0.0.1:%[2]d", false},
		{"one jump, known", []*lab.Host{bastion, target}, "%[1]s@127.0.0.1:%[2]d", true},
		{"two jumps, the first unknown", []*lab.Host{middle, target}, "%[1]s@127.0.0.1:%[2]d,%[1]s@127.0.0.1:%[3]d", false},
		{"two jumps, the second unknown", []*lab.Host{bastion, target}, "%[1]s@127.0.0.1:%[2]d,%[1]s@127.0.0.1:%[3]d", false},
		{"two jumps, known", []*lab.Host{bastion, middle, target}, "%[1]s@127.0.0.1:%[2]d,%[1]s@127.0.0.1:%[3]d", true},
		{"the SSH config's jump, unknown to the stage", []*lab.Host{target}, "", false},
		{"the SSH config's jump, known", []*lab.Host{bastion, target}, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var kh strings.Builder
			for _, h := range tt.known {
				kh.WriteString(line(h))
			}
			os.WriteFile(stageKnown, []byte(kh.String()), 0o600)
			os.Remove(userKnown)
			st := deploylib.Stage{
				Name: "lab",
				SSH: deploylib.SSHOptions{
					KnownHostsFile: stageKnown, KnownHostsOnly: true,
					IdentityFiles: []string{l.ClientKey}, ConfigFile: config,
				},
				Servers: []deploylib.Server{{Host: l.User + "@" + target.Addr, Roles: []string{"app"}}},
			}
			if tt.jump == "" {
				st.Servers[0].Host = l.User + "@labtarget"
			} else {
				st.SSH.ProxyJump = fmt.Sprintf(tt.jump, l.User, bastion.Port, middle.Port)
			}
			var out bytes.Buffer
			err := d.OpenShell(context.Background(), "", deploylib.WithStage(st), deploylib.WithOutput(&out), deploylib.WithColor(false))
			if tt.ok && err != nil {
				t.Fatalf("ssh through known jump hosts: %v\n%s", err, out.String())
			}
			if !tt.ok && err == nil {
				b, _ := os.ReadFile(userKnown)
				t.Fatalf("ssh through a jump host unknown to the stage succeeded; the SSH config's policy recorded:\n%s", b)
			}
			if _, serr := os.Stat(userKnown); serr == nil {
				t.Errorf("a jump host key was recorded by the SSH config's accept-new policy")
			}
		})
	}
}
