package engine

import (
	"context"
	"os"
	"strings"
	"sync"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
)

// dialer owns a run's connections: how the run dials a server (SSH or
// the local shell, a test's dialer, a dry run's printer), each host's
// connection, dialed once on first use or ahead, and the dials started
// ahead. It needs nothing else of the run.
type dialer struct {
	dial      func(ctx context.Context, s Server) (backend.Conn, error)
	printOnly bool                // a dry run: nothing is dialed ahead
	conns     map[*Host]*hostConn // by the run's hosts (Host.origin)
	dialing   sync.WaitGroup      // the dials ahead started
	stop      func()              // cancels them; nil when none started
}

// hostConn is one host's connection, dialed once.
type hostConn struct {
	once sync.Once
	conn backend.Conn
	err  error
}

// conn returns h's connection, dialing it on first use.
func (d *dialer) conn(ctx context.Context, h *Host) (backend.Conn, error) {
	c := d.conns[h.origin()]
	c.once.Do(func() {
		c.conn, c.err = d.dial(ctx, h.Server)
	})
	return c.conn, c.err
}

// ahead starts connecting to every one of hosts in the background, so
// that the connections are ready when the first task needs them, while
// the run does its local work (checks, resolving the revision). A dial
// that fails is reported where it would be without this: by the first
// command on that host, naming it. A dry run connects to nothing.
//
// Every host is dialed at once; sshbackend keeps the handshakes in
// progress with one address (a bastion that every host is reached
// through) below OpenSSH's MaxStartups, and all of them below
// sshbackend.MaxHandshakes.
func (d *dialer) ahead(ctx context.Context, hosts []*Host) {
	if d.printOnly {
		return
	}
	ctx, d.stop = context.WithCancel(ctx)
	for _, h := range hosts {
		d.dialing.Go(func() { d.conn(ctx, h) })
	}
}

// close stops the dials under way and closes every connection.
func (d *dialer) close() {
	if d.stop != nil {
		d.stop()
		d.dialing.Wait()
	}
	for _, c := range d.conns {
		if c.conn != nil {
			c.conn.Close()
		}
	}
}

// defaultDial connects to a server through /bin/sh for a Local server,
// else over SSH with the stage's options o; logf receives the SSH
// backend's notices (a skipped known_hosts line, a recorded host key).
func defaultDial(o SSHOptions, logf func(format string, args ...any)) func(ctx context.Context, s Server) (backend.Conn, error) {
	return func(ctx context.Context, s Server) (backend.Conn, error) {
		if s.Local {
			return &backend.Local{}, nil
		}
		cfg := sshConfig(o, s)
		cfg.Logf = logf
		c, err := sshbackend.Dial(ctx, cfg)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return c, nil
	}
}

// sshConfig turns a stage's SSH options and a server into the SSH
// backend's configuration.
func sshConfig(o SSHOptions, s Server) sshbackend.Config {
	addr, _ := ParseAddress(s.Host)
	cfg := sshbackend.Config{
		Host:              addr.Host,
		Port:              addr.Port,
		User:              addr.User,
		AcceptNewHostKeys: o.AcceptNewHostKeys,
		IdentityFiles:     o.IdentityFiles,
		UseAgent:          true,
		ForwardAgent:      o.ForwardAgent,
		ProxyJump:         o.ProxyJump,
		SSHConfigFile:     o.ConfigFile,
	}
	if o.KnownHostsFile != "" {
		cfg.KnownHostsFiles = []string{o.KnownHostsFile}
		if !o.KnownHostsOnly {
			cfg.KnownHostsFiles = append(cfg.KnownHostsFiles, expandHome("~/.ssh/known_hosts"))
		}
	}
	return cfg
}

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return home + "/" + rest
		}
	}
	return p
}
