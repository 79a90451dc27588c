package sshbackend

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"
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
	// holds no entries, so its hosts are unknown. A leading "~/" stands for
	// the home directory, here and in IdentityFiles.
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
	// commands, uploads and downloads wait for a free one. 0 means 8. The
	// command shell (see SessionPerCommand) holds one while it is open, and
	// gives it up when a command waits for one. One more session is used
	// now and then to stop cancelled commands, so keep this below the
	// server's MaxSessions (10 in OpenSSH).
	MaxSessions int
	// StopTimeout is how long a cancelled command gets between SIGTERM and
	// SIGKILL; 0 means 5s.
	StopTimeout time.Duration
	// SessionPerCommand runs every command in an SSH session of its own,
	// as ssh(1) does, instead of reusing the connection's command shell:
	// one long-lived session that runs the commands without standard input
	// one after the other (Conn.Run). A session per command costs about
	// one more network round trip per command; the command shell holds one
	// of the MaxSessions slots while it is open.
	SessionPerCommand bool

	// Logf, when set, receives notices that are not errors, such as a host
	// key recorded by AcceptNewHostKeys or a connection declared dead.
	Logf func(format string, args ...any)

	// testHook, set by tests only (export_test.go), is called at the
	// command shell's events; see Conn.hook.
	testHook func(event string) error
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
	r.knownHosts = expandTildes(r.knownHosts)
	cfg.IdentityFiles = expandTildes(cfg.IdentityFiles)
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

// expandTildes returns paths with a leading "~/" (or a lone "~") replaced
// by the home directory, as OpenSSH does for its file options.
func expandTildes(paths []string) []string {
	if paths == nil {
		return nil
	}
	out := make([]string, len(paths))
	for i, p := range paths {
		if p == "~" || strings.HasPrefix(p, "~/") {
			p = homeDir() + p[1:]
		}
		out[i] = p
	}
	return out
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
