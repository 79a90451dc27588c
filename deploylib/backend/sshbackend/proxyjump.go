package sshbackend

import (
	"fmt"
	"strconv"
	"strings"
)

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

// JumpHost is one hop of a ProxyJump chain, as written: Host is the alias
// (looked up in the SSH config by whoever dials it), User and Port are ""
// and 0 when the hop does not give them.
type JumpHost struct {
	User string
	Host string
	Port int
}

// JumpHosts returns the jump hosts that Dial goes through to reach
// cfg.Host, in order: cfg.ProxyJump, else the SSH config's ProxyJump for
// cfg.Host; none for "none". Code that starts ssh(1) itself uses it to
// give every hop the same host key policy as the target.
func (cfg Config) JumpHosts() ([]JumpHost, error) {
	jump := cfg.ProxyJump
	if jump == "" {
		sc, err := loadSSHConfig(cfg.SSHConfigFile)
		if err != nil {
			return nil, err
		}
		jump = sc.get(cfg.Host, "ProxyJump")
	}
	hops, err := parseProxyJump(jump)
	if err != nil {
		return nil, fmt.Errorf("sshbackend: %s: %w", cfg.Host, err)
	}
	out := make([]JumpHost, len(hops))
	for i, h := range hops {
		out[i] = JumpHost{User: h.user, Host: h.host, Port: h.port}
	}
	return out, nil
}
