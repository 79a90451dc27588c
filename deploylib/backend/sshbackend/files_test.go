package sshbackend

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestFilesAreWhatDialReads: Config.Files names the files Dial reads,
// "~" expanded against $HOME, the defaults resolved, so that code
// starting ssh(1) can pass them explicitly.
func TestFilesAreWhatDialReads(t *testing.T) {
	tests := []struct {
		name   string
		home   map[string]string // files made under $HOME
		cfg    Config
		want   Files // $HOME stands for the home directory
		errHas string
	}{
		{"nothing in $HOME", nil, Config{Host: "web1"},
			Files{SSHConfig: "none", KnownHosts: []string{"$HOME/.ssh/known_hosts"}}, ""},
		{"defaults from $HOME", map[string]string{".ssh/config": "", ".ssh/id_ecdsa": "", ".ssh/id_rsa": ""}, Config{Host: "web1"},
			Files{SSHConfig: "$HOME/.ssh/config", KnownHosts: []string{"$HOME/.ssh/known_hosts"},
				Identities: []string{"$HOME/.ssh/id_ecdsa", "$HOME/.ssh/id_rsa"}}, ""},
		{"the config's IdentityFile, ~ expanded", map[string]string{".ssh/config": "Host web1\n  IdentityFile ~/.ssh/web1_%r\n", ".ssh/id_rsa": ""},
			Config{Host: "web1", User: "deploy"},
			Files{SSHConfig: "$HOME/.ssh/config", KnownHosts: []string{"$HOME/.ssh/known_hosts"},
				Identities: []string{"$HOME/.ssh/web1_deploy"}}, ""},
		{"given files, ~ expanded", map[string]string{"conf": ""},
			Config{Host: "web1", SSHConfigFile: "~/conf", KnownHostsFiles: []string{"~/kh", "/etc/kh"}, IdentityFiles: []string{"~/key"}},
			Files{SSHConfig: "$HOME/conf", KnownHosts: []string{"$HOME/kh", "/etc/kh"}, Identities: []string{"$HOME/key"}}, ""},
		{"none", map[string]string{".ssh/config": "", ".ssh/id_rsa": ""}, Config{Host: "web1", SSHConfigFile: "none"},
			Files{SSHConfig: "none", KnownHosts: []string{"$HOME/.ssh/known_hosts"}, Identities: []string{"$HOME/.ssh/id_rsa"}}, ""},
		{"a given config that is missing", nil, Config{Host: "web1", SSHConfigFile: "~/missing"}, Files{}, "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			t.Setenv("HOME", home)
			for name, body := range tt.home {
				p := filepath.Join(home, name)
				os.MkdirAll(filepath.Dir(p), 0o700)
				if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := tt.cfg.Files()
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Errorf("error = %v, want one saying %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			home2 := func(ss []string) []string {
				var out []string
				for _, s := range ss {
					out = append(out, strings.ReplaceAll(s, "$HOME", home))
				}
				return out
			}
			want := Files{SSHConfig: strings.ReplaceAll(tt.want.SSHConfig, "$HOME", home), KnownHosts: home2(tt.want.KnownHosts), Identities: home2(tt.want.Identities)}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}
