package sshbackend

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kevinburke/ssh_config"
)

// sshConfig is an OpenSSH client configuration; a nil c means none.
type sshConfig struct {
	c *ssh_config.Config
}

// Files are the files [Dial] reads to reach a host, with a leading "~"
// expanded against $HOME as Dial expands it.
type Files struct {
	// SSHConfig is the SSH config file read, "none" when none is.
	SSHConfig string
	// KnownHosts are the known_hosts files host keys are checked against.
	KnownHosts []string
	// Identities are the private key files offered to the host (those
	// that exist, for the defaults).
	Identities []string
}

// Files returns the files Dial reads to reach cfg.Host. Code that starts
// ssh(1) itself passes them explicitly (-F, -o UserKnownHostsFile, -i):
// ssh expands "~" with the account's home directory (getpwuid), not
// $HOME, and reads its own defaults from there, so left to itself it can
// read other files than Capstan's own SSH.
func (cfg Config) Files() (Files, error) {
	var f Files
	path, optional := sshConfigPath(cfg.SSHConfigFile)
	f.SSHConfig = path
	if _, err := os.Stat(path); optional && errors.Is(err, fs.ErrNotExist) {
		f.SSHConfig = "none" // a missing ~/.ssh/config: Dial reads none
	}
	sc, err := loadSSHConfig(cfg.SSHConfigFile)
	if err != nil {
		return Files{}, err
	}
	f.KnownHosts = cfg.KnownHostsFiles
	if f.KnownHosts == nil {
		f.KnownHosts = []string{filepath.Join(homeDir(), ".ssh", "known_hosts")}
	}
	f.KnownHosts = expandTildes(f.KnownHosts)
	e, err := sc.endpoint(cfg.Host, cfg.User, cfg.Port, expandTildes(cfg.IdentityFiles))
	if err != nil {
		return Files{}, err
	}
	f.Identities = e.identities
	return f, nil
}

// sshConfigPath returns the SSH config file that path names ("" is
// ~/.ssh/config, which may be missing; "none" is no file), with "~"
// expanded, and whether a missing file is fine.
func sshConfigPath(path string) (string, bool) {
	if path == "none" {
		return path, true
	}
	optional := path == ""
	if optional {
		path = filepath.Join(homeDir(), ".ssh", "config")
	}
	return expandTildes([]string{path})[0], optional
}

// loadSSHConfig reads the SSH config file at path ("" is ~/.ssh/config,
// which may be missing; "none" is no file).
func loadSSHConfig(path string) (sshConfig, error) {
	if path == "none" {
		return sshConfig{}, nil
	}
	path, optional := sshConfigPath(path)
	f, err := os.Open(path)
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return sshConfig{}, nil
		}
		return sshConfig{}, fmt.Errorf("sshbackend: ssh config: %w", err)
	}
	defer f.Close()
	c, err := ssh_config.Decode(f)
	if err != nil {
		return sshConfig{}, fmt.Errorf("sshbackend: ssh config %s: %w", path, err)
	}
	return sshConfig{c: c}, nil
}

func (s sshConfig) get(alias, key string) string {
	if s.c == nil {
		return ""
	}
	v, _ := s.c.Get(alias, key)
	return strings.TrimSpace(v)
}

func (s sshConfig) getAll(alias, key string) []string {
	if s.c == nil {
		return nil
	}
	v, _ := s.c.GetAll(alias, key)
	return v
}

// endpoint resolves alias with the given overrides (zero values mean none).
func (s sshConfig) endpoint(alias, user string, port int, identities []string) (endpoint, error) {
	e := endpoint{alias: alias, host: alias, port: port, user: user}
	if hn := s.get(alias, "HostName"); hn != "" {
		e.host = strings.ReplaceAll(hn, "%h", alias)
	}
	if e.port == 0 {
		if p := s.get(alias, "Port"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n <= 0 || n > 65535 {
				return e, fmt.Errorf("sshbackend: ssh config: host %s: invalid Port %q", alias, p)
			}
			e.port = n
		}
	}
	if e.port == 0 {
		e.port = 22
	}
	if e.user == "" {
		e.user = s.get(alias, "User")
	}
	if e.user == "" {
		e.user = localUser()
	}
	switch {
	case identities != nil:
		e.identities = identities
	case len(s.getAll(alias, "IdentityFile")) > 0:
		for _, f := range s.getAll(alias, "IdentityFile") {
			e.identities = append(e.identities, expandPath(f, e))
		}
	default:
		for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			p := filepath.Join(homeDir(), ".ssh", name)
			if _, err := os.Stat(p); err == nil {
				e.identities = append(e.identities, p)
			}
		}
	}
	return e, nil
}

// expandPath expands the ~ and the %d, %h, %r, %u, %p and %% tokens that
// OpenSSH allows in IdentityFile.
func expandPath(p string, e endpoint) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		p = homeDir() + p[1:]
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+1 == len(p) {
			b.WriteByte(p[i])
			continue
		}
		i++
		switch p[i] {
		case 'd':
			b.WriteString(homeDir())
		case 'h':
			b.WriteString(e.host)
		case 'r':
			b.WriteString(e.user)
		case 'u':
			b.WriteString(localUser())
		case 'p':
			b.WriteString(strconv.Itoa(e.port))
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(p[i])
		}
	}
	return b.String()
}

func homeDir() string {
	if h, err := os.UserHomeDir(); err == nil {
		return h
	}
	if u, err := user.Current(); err == nil {
		return u.HomeDir
	}
	return "/"
}

func localUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}
