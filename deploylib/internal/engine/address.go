package engine

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Address is a parsed host string: "user@host:port", "host", "[::1]:2222".
type Address struct {
	User string
	Host string
	Port int // 0 when the host string gave none
}

// ParseAddress parses a host string as a stage writes it.
func ParseAddress(s string) (Address, error) {
	var a Address
	if s == "" {
		return a, fmt.Errorf("empty host")
	}
	rest := s
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		a.User, rest = rest[:i], rest[i+1:]
		if a.User == "" {
			return a, fmt.Errorf("host %q: empty user before @", s)
		}
	}
	switch {
	case strings.HasPrefix(rest, "["):
		end := strings.Index(rest, "]")
		if end < 0 {
			return a, fmt.Errorf("host %q: missing ] after IPv6 address", s)
		}
		a.Host = rest[1:end]
		tail := rest[end+1:]
		if tail != "" {
			if !strings.HasPrefix(tail, ":") {
				return a, fmt.Errorf("host %q: unexpected %q after ]", s, tail)
			}
			p, err := parsePort(tail[1:])
			if err != nil {
				return a, fmt.Errorf("host %q: %w", s, err)
			}
			a.Port = p
		}
	case strings.Count(rest, ":") == 1:
		h, p, _ := strings.Cut(rest, ":")
		port, err := parsePort(p)
		if err != nil {
			return a, fmt.Errorf("host %q: %w", s, err)
		}
		a.Host, a.Port = h, port
	default:
		// No port, or a bare IPv6 address without brackets.
		a.Host = rest
	}
	if a.Host == "" {
		return a, fmt.Errorf("host %q: empty host name", s)
	}
	if strings.ContainsAny(a.Host+a.User, " \t\n/'\"`$;&|<>\\") {
		return a, fmt.Errorf("host %q: invalid character in user or host name", s)
	}
	if strings.HasPrefix(a.Host, "-") || strings.HasPrefix(a.User, "-") {
		return a, fmt.Errorf("host %q: user and host name may not start with -", s)
	}
	return a, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return p, nil
}

// String returns the address in "user@host:port" form, leaving out what is
// not set and bracketing IPv6 hosts that carry a port.
func (a Address) String() string {
	s := a.Host
	if a.Port != 0 {
		s = net.JoinHostPort(a.Host, strconv.Itoa(a.Port))
	}
	if a.User != "" {
		s = a.User + "@" + s
	}
	return s
}
