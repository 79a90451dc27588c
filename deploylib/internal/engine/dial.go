package engine

import (
	"context"
	"os"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
)

// dialAhead starts connecting to every host of the run in the
// background, so that the connections are ready when the first task needs
// them, while the run does its local work (checks, resolving the
// revision). A dial that fails is reported where it would be without
// this: by the first command on that host, naming it. A dry run connects
// to nothing.
//
// Every host is dialed at once; sshbackend keeps the handshakes in
// progress with one address (a bastion that every host is reached
// through) below OpenSSH's MaxStartups, and all of them below
// sshbackend.MaxHandshakes.
func (r *Run) dialAhead(ctx context.Context) {
	if r.dryRun {
		return
	}
	ctx, r.stopDialing = context.WithCancel(ctx)
	for _, h := range r.hosts {
		r.dialing.Go(func() { r.conn(ctx, h) })
	}
}

// defaultDial connects to s: through /bin/sh for a Local server, else SSH.
func (r *Run) defaultDial(ctx context.Context, s Server) (backend.Conn, error) {
	if s.Local {
		return &backend.Local{}, nil
	}
	cfg := sshConfig(r.Stage.SSH, s)
	cfg.Logf = r.console.Warn // a skipped known_hosts line, a recorded host key
	c, err := sshbackend.Dial(ctx, cfg)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return c, nil
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
