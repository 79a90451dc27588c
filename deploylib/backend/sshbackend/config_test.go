package sshbackend

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestResolveWithSSHConfig(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USER", "me")
	sshDir := filepath.Join(home, ".ssh")
	if err := os.Mkdir(sshDir, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := `
Host web1
  HostName 10.0.0.1
  User deploy
  Port 2222
  IdentityFile ~/.ssh/deploy_key
  IdentityFile %d/.ssh/other_%r

Host db?
  HostName %h.internal
  ProxyJump jump@bastion:2200

Host bastion
  HostName 10.9.9.9
  IdentityFile ~/.ssh/bastion_key

Host *
  User fallback
`
	if err := os.WriteFile(filepath.Join(sshDir, "config"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sshDir, "id_ed25519"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		cfg   Config
		want  endpoint
		jumps []endpoint
	}{
		{
			name: "alias from ssh config",
			cfg:  Config{Host: "web1"},
			want: endpoint{alias: "web1", host: "10.0.0.1", port: 2222, user: "deploy",
				identities: []string{sshDir + "/deploy_key", home + "/.ssh/other_deploy"}},
		},
		{
			name: "explicit values win",
			cfg:  Config{Host: "web1", Port: 22, User: "root", IdentityFiles: []string{"/k"}},
			want: endpoint{alias: "web1", host: "10.0.0.1", port: 22, user: "root", identities: []string{"/k"}},
		},
		{
			name: "defaults and jump host from ssh config",
			cfg:  Config{Host: "db1"},
			want: endpoint{alias: "db1", host: "db1.internal", port: 22, user: "fallback",
				identities: []string{sshDir + "/id_ed25519"}},
			jumps: []endpoint{{alias: "bastion", host: "10.9.9.9", port: 2200, user: "jump",
				identities: []string{sshDir + "/bastion_key"}}},
		},
		{
			name: "ProxyJump none overrides ssh config",
			cfg:  Config{Host: "db1", ProxyJump: "none"},
			want: endpoint{alias: "db1", host: "db1.internal", port: 22, user: "fallback",
				identities: []string{sshDir + "/id_ed25519"}},
		},
		{
			name: "no ssh config",
			cfg:  Config{Host: "web1", SSHConfigFile: "none"},
			want: endpoint{alias: "web1", host: "web1", port: 22, user: "me",
				identities: []string{sshDir + "/id_ed25519"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.cfg.resolve()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.target, tt.want) {
				t.Errorf("target = %+v\nwant     %+v", r.target, tt.want)
			}
			if !reflect.DeepEqual(r.jumps, tt.jumps) {
				t.Errorf("jumps = %+v\nwant    %+v", r.jumps, tt.jumps)
			}
		})
	}
}

func TestResolveDefaults(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	r, err := Config{Host: "h", SSHConfigFile: "none"}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if r.handshakeTimeout != 15*time.Second || r.keepAlive != 15*time.Second || r.maxMissed != 3 ||
		r.maxSessions != 8 || r.stopTimeout != 5*time.Second {
		t.Errorf("defaults: %+v", r)
	}
	if want := []string{home + "/.ssh/known_hosts"}; !reflect.DeepEqual(r.knownHosts, want) {
		t.Errorf("knownHosts = %v, want %v", r.knownHosts, want)
	}
	if len(r.target.identities) != 0 {
		t.Errorf("identities = %v, want none (no default key exists)", r.target.identities)
	}
	// A missing default ssh config is fine; a missing explicit one is not.
	if _, err := (Config{Host: "h"}).resolve(); err != nil {
		t.Errorf("missing ~/.ssh/config: %v", err)
	}
	if _, err := (Config{Host: "h", SSHConfigFile: home + "/nope"}).resolve(); err == nil {
		t.Errorf("missing explicit SSHConfigFile: no error")
	}
	if _, err := (Config{}).resolve(); err == nil {
		t.Errorf("empty Host: no error")
	}
}
