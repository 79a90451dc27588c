package deploylib

import (
	"context"
	"os"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
)

// maxConcurrentDials caps how many SSH connections a run opens at once,
// below OpenSSH's MaxStartups (10) for a fleet behind one bastion.
const maxConcurrentDials = 8

// defaultDial connects to s: through /bin/sh for a Local server, else SSH.
func (r *Run) defaultDial(ctx context.Context, s Server) (backend.Conn, error) {
	if s.Local {
		return &backend.Local{}, nil
	}
	select {
	case r.dialSem <- struct{}{}:
		defer func() { <-r.dialSem }()
	case <-ctx.Done():
		return nil, ctx.Err()
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
