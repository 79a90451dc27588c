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
