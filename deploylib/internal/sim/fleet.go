package sim

import (
	"cmp"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/capstan-deploy/capstan/deploylib/lab/latency"
)

// Files a fleet writes in its directory for the client.
const (
	KnownHostsFile = "known_hosts" // one line per host, its own ed25519 key
	IdentityFile   = "id_ed25519"  // the client's private key
	HostsFile      = "hosts"       // the hosts' addresses, one per line
)

// User is the login name the servers accept.
const User = "sim"

// Fleet is a set of emulating SSH servers on loopback, each behind a
// latency proxy.
type Fleet struct {
	// Dir holds KnownHostsFile, IdentityFile and HostsFile.
	Dir string
	// Addrs are the addresses the client dials (the proxies').
	Addrs []string

	lns     []net.Listener
	proxies []*latency.Proxy
	wg      sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool

	stats Stats
}

// Stats counts what the servers of a fleet were asked to do.
type Stats struct {
	Connections atomic.Int64 // SSH connections that logged in
	Sessions    atomic.Int64 // session channels opened
	Commands    atomic.Int64 // commands run, in the command shell or by exec
}

// Stats returns the fleet's counters.
func (f *Fleet) Stats() *Stats { return &f.stats }

// StartFleet starts n servers with a one-way delay of delay (0 means
// latency.DefaultDelay, a negative value none) and writes the client's
// files in dir.
func StartFleet(n int, delay time.Duration, dir string) (_ *Fleet, err error) {
	if n < 1 {
		return nil, fmt.Errorf("sim: a fleet needs at least one host, not %d", n)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("sim: the fleet's directory %s: %w", dir, cmp.Or(err, errors.New("not a directory")))
	}
	f := &Fleet{Dir: dir, conns: map[net.Conn]struct{}{}}
	defer func() {
		if err != nil {
			f.Close() // what was started before the failure
		}
	}()
	_, clientKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(clientKey, "capstan-sim")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, IdentityFile), pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	authorized, err := ssh.NewPublicKey(clientKey.Public())
	if err != nil {
		return nil, err
	}
	want := string(authorized.Marshal())
	auth := func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
		if c.User() == User && string(key.Marshal()) == want {
			return nil, nil
		}
		return nil, errors.New("not the simulation's key")
	}

	var known, hosts strings.Builder
	for range n {
		_, hostKey, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		signer, err := ssh.NewSignerFromKey(hostKey)
		if err != nil {
			return nil, err
		}
		cfg := &ssh.ServerConfig{PublicKeyCallback: auth}
		cfg.AddHostKey(signer)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("sim: listen: %w (raise the open files limit?)", err)
		}
		f.lns = append(f.lns, ln)
		p, err := latency.Listen(ln.Addr().String(), delay)
		if err != nil {
			return nil, err
		}
		f.proxies = append(f.proxies, p)
		f.Addrs = append(f.Addrs, p.Addr())
		fmt.Fprintln(&known, knownhosts.Line([]string{knownhosts.Normalize(p.Addr())}, signer.PublicKey()))
		fmt.Fprintln(&hosts, p.Addr())
		f.wg.Go(func() { f.serve(ln, cfg) })
	}
	if err := os.WriteFile(filepath.Join(dir, KnownHostsFile), []byte(known.String()), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, HostsFile), []byte(hosts.String()), 0o600); err != nil {
		return nil, err
	}
	return f, nil
}

// Close stops the servers and their proxies and closes every connection.
func (f *Fleet) Close() error {
	for _, p := range f.proxies {
		p.Close()
	}
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	for _, ln := range f.lns {
		ln.Close()
	}
	f.wg.Wait()
	return nil
}

func (f *Fleet) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		c.Close()
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Fleet) untrack(c net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.conns, c)
}

func (f *Fleet) serve(ln net.Listener, cfg *ssh.ServerConfig) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if !f.track(c) {
			return
		}
		f.wg.Go(func() {
			defer f.untrack(c)
			defer c.Close()
			f.handleConn(c, cfg)
		})
	}
}

// handleConn serves one SSH connection: session channels only; global
// requests (keepalives) are answered "false", as OpenSSH does.
func (f *Fleet) handleConn(c net.Conn, cfg *ssh.ServerConfig) {
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	f.stats.Connections.Add(1)
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		f.stats.Sessions.Add(1)
		wg.Go(func() { f.handleSession(ch, creqs) })
	}
}
