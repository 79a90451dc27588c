package sshbackend

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"
)

// Defaults used for the zero values of [Config].
const (
	DefaultHandshakeTimeout   = 15 * time.Second
	DefaultKeepAliveInterval  = 15 * time.Second
	DefaultKeepAliveMaxMissed = 3
	DefaultMaxSessions        = 8
	DefaultStopTimeout        = 5 * time.Second
)

// Config describes how to reach one host. Every zero field has a default,
// so Config{Host: "web1"} dials web1 the way OpenSSH would with the user's
// ~/.ssh/config, except that unknown host keys are refused.
type Config struct {
	// Host is the host name, alias or IP address as the stage wrote it.
	// It is looked up as an alias in the SSH config file (HostName, User,
	// Port, IdentityFile, ProxyJump).
	Host string
	// Port is the TCP port; 0 means the SSH config's Port, else 22.
	Port int
	// User is the login name; "" means the SSH config's User, else $USER.
	User string

	// KnownHostsFiles are the known_hosts files that host keys are checked
	// against; nil means ~/.ssh/known_hosts. A file that does not exist
	// holds no entries, so its hosts are unknown.
	KnownHostsFiles []string
	// AcceptNewHostKeys records the key of a host that has no entry yet in
	// the first known_hosts file (created with mode 0600) instead of
	// refusing it. A key that differs from a recorded one is always refused.
	AcceptNewHostKeys bool

	// IdentityFiles are private key files offered for login; nil means the
	// SSH config's IdentityFile entries, else those of ~/.ssh/id_ed25519,
	// ~/.ssh/id_ecdsa and ~/.ssh/id_rsa that exist. Keys with a passphrase
	// are skipped: load them into ssh-agent instead. They are offered to
	// jump hosts too.
	IdentityFiles []string
	// UseAgent offers the keys of the ssh-agent at $SSH_AUTH_SOCK, when
	// that variable is set, before the identity files.
	UseAgent bool
	// ForwardAgent forwards the agent at $SSH_AUTH_SOCK to every command,
	// so that they can use it (git fetching over SSH, for instance). Only
	// hosts trusted with the agent's keys should get it.
	ForwardAgent bool

	// ProxyJump is a comma-separated chain of jump hosts,
	// "[user@]host[:port][,...]", reached in order before Host; "" means
	// the SSH config's ProxyJump, and "none" means no jump host. Every hop
	// is an alias looked up in the SSH config like Host, and its host key
	// is checked like Host's.
	ProxyJump string
	// SSHConfigFile is the OpenSSH client configuration read for Host and
	// the jump hosts; "" means ~/.ssh/config (a missing one is fine), and
	// "none" means no file at all.
	SSHConfigFile string

	// HandshakeTimeout bounds the TCP connect plus the whole SSH handshake
	// (host key check and login), for each hop; 0 means 15s.
	HandshakeTimeout time.Duration
	// KeepAliveInterval is how often a keepalive@openssh.com request is
	// sent; 0 means 15s, a negative value turns keepalives off.
	KeepAliveInterval time.Duration
	// KeepAliveMaxMissed is how many intervals may pass without an answer
	// before the connection is declared dead and closed, failing its
	// commands with [ErrHostStoppedAnswering]; 0 means 3.
	KeepAliveMaxMissed int
	// MaxSessions caps the sessions open at once on the connection:
	// commands, uploads and downloads wait for a free one. 0 means 8. One
	// more session is used now and then to stop cancelled commands, so
	// keep this below the server's MaxSessions (10 in OpenSSH).
	MaxSessions int
	// StopTimeout is how long a cancelled command gets between SIGTERM and
	// SIGKILL; 0 means 5s.
	StopTimeout time.Duration

	// Logf, when set, receives notices that are not errors, such as a host
	// key recorded by AcceptNewHostKeys or a connection declared dead.
	Logf func(format string, args ...any)
}

// endpoint is one SSH server to log in to: the target or a jump host,
// after the SSH config was applied.
type endpoint struct {
	alias      string // as written by the user
	host       string // after HostName
	port       int
	user       string
	identities []string
}

func (e endpoint) addr() string { return net.JoinHostPort(e.host, strconv.Itoa(e.port)) }

// resolved is a Config with every default and the SSH config applied.
type resolved struct {
	target           endpoint
	jumps            []endpoint
	knownHosts       []string
	handshakeTimeout time.Duration
	keepAlive        time.Duration
	maxMissed        int
	maxSessions      int
	stopTimeout      time.Duration
}

// resolve applies the defaults and the SSH config file to cfg.
func (cfg Config) resolve() (*resolved, error) {
	if cfg.Host == "" {
		return nil, errors.New("sshbackend: Config.Host is empty")
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("sshbackend: %s: invalid port %d", cfg.Host, cfg.Port)
	}
	sc, err := loadSSHConfig(cfg.SSHConfigFile)
	if err != nil {
		return nil, err
	}
	r := &resolved{
		knownHosts:       cfg.KnownHostsFiles,
		handshakeTimeout: orDefault(cfg.HandshakeTimeout, DefaultHandshakeTimeout),
		keepAlive:        orDefault(cfg.KeepAliveInterval, DefaultKeepAliveInterval),
		maxMissed:        orDefault(cfg.KeepAliveMaxMissed, DefaultKeepAliveMaxMissed),
		maxSessions:      orDefault(cfg.MaxSessions, DefaultMaxSessions),
		stopTimeout:      orDefault(cfg.StopTimeout, DefaultStopTimeout),
	}
	if r.knownHosts == nil {
		r.knownHosts = []string{filepath.Join(homeDir(), ".ssh", "known_hosts")}
	}
	r.target, err = sc.endpoint(cfg.Host, cfg.User, cfg.Port, cfg.IdentityFiles)
	if err != nil {
		return nil, err
	}
	jump := cfg.ProxyJump
	if jump == "" {
		jump = sc.get(cfg.Host, "ProxyJump")
	}
	hops, err := parseProxyJump(jump)
	if err != nil {
		return nil, fmt.Errorf("sshbackend: %s: %w", cfg.Host, err)
	}
	for _, h := range hops {
		ep, err := sc.endpoint(h.host, h.user, h.port, cfg.IdentityFiles)
		if err != nil {
			return nil, err
		}
		r.jumps = append(r.jumps, ep)
	}
	return r, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// sshConfig is an OpenSSH client configuration; a nil c means none.
type sshConfig struct {
	c *ssh_config.Config
}

// loadSSHConfig reads the SSH config file at path ("" is ~/.ssh/config,
// which may be missing; "none" is no file).
func loadSSHConfig(path string) (sshConfig, error) {
	if path == "none" {
		return sshConfig{}, nil
	}
	optional := path == ""
	if optional {
		path = filepath.Join(homeDir(), ".ssh", "config")
	}
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

// hop is one element of a ProxyJump chain.
type hop struct {
	user string
	host string
	port int
}

// parseProxyJump parses "[user@]host[:port][,...]" (each hop may also be an
// ssh:// URI); "" and "none" mean no jump host.
func parseProxyJump(s string) ([]hop, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return nil, nil
	}
	var hops []hop
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		orig := part
		part = strings.TrimPrefix(part, "ssh://")
		var h hop
		if i := strings.LastIndex(part, "@"); i >= 0 {
			h.user, part = part[:i], part[i+1:]
			if h.user == "" {
				return nil, fmt.Errorf("ProxyJump %q: empty user before @", orig)
			}
		}
		host, port := part, ""
		switch {
		case strings.HasPrefix(part, "["):
			end := strings.Index(part, "]")
			if end < 0 {
				return nil, fmt.Errorf("ProxyJump %q: missing ]", orig)
			}
			host = part[1:end]
			if rest := part[end+1:]; rest != "" {
				if !strings.HasPrefix(rest, ":") {
					return nil, fmt.Errorf("ProxyJump %q: unexpected %q after ]", orig, rest)
				}
				port = rest[1:]
			}
		case strings.Count(part, ":") == 1:
			host, port, _ = strings.Cut(part, ":")
		}
		if host == "" {
			return nil, fmt.Errorf("ProxyJump %q: empty host", orig)
		}
		if strings.HasPrefix(host, "-") || strings.ContainsAny(host, " \t/") {
			return nil, fmt.Errorf("ProxyJump %q: invalid host %q", orig, host)
		}
		if port != "" {
			n, err := strconv.Atoi(port)
			if err != nil || n <= 0 || n > 65535 {
				return nil, fmt.Errorf("ProxyJump %q: invalid port %q", orig, port)
			}
			h.port = n
		}
		h.host = host
		hops = append(hops, h)
	}
	return hops, nil
}
