package sshbackend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/melbahja/goph"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Dial opens one SSH connection to cfg.Host, through cfg's jump hosts if
// any, verifying every host key and logging in with the agent's and the
// identity files' keys. Each hop must connect and finish its handshake
// within cfg.HandshakeTimeout. ctx bounds the dial only; once Dial returns,
// the connection lives until Close.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	r, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	kh, err := loadKnownHosts(r.knownHosts, cfg.AcceptNewHostKeys, cfg.Logf)
	if err != nil {
		return nil, err
	}
	var ag *sshAgent
	if cfg.UseAgent || cfg.ForwardAgent {
		if ag, err = openAgent(); err != nil {
			return nil, err
		}
		if ag == nil && cfg.ForwardAgent {
			return nil, fmt.Errorf("sshbackend: %s: ForwardAgent is set but SSH_AUTH_SOCK is not", r.target.addr())
		}
	}
	authAgent := ag
	if !cfg.UseAgent {
		authAgent = nil
	}

	var clients []*ssh.Client
	closeAll := func() {
		for i := len(clients) - 1; i >= 0; i-- {
			clients[i].Close()
		}
		ag.Close()
	}
	var via *ssh.Client
	var target *serverTraffic
	hops := append(slices.Clone(r.jumps), r.target)
	for i, ep := range hops {
		// Agent forwarding needs x/crypto's handling of the channels the
		// server opens: the target then gets a Client of its own.
		c, traffic, err := dialEndpoint(ctx, via, ep, kh, authAgent, r.handshakeTimeout, i == len(hops)-1 && cfg.ForwardAgent)
		if err != nil {
			closeAll()
			if i < len(hops)-1 {
				var op *OpError
				opName := "dial"
				if errors.As(err, &op) {
					opName = op.Op
				}
				return nil, &OpError{Addr: r.target.addr(), Op: opName, Err: fmt.Errorf("jump host: %w", err)}
			}
			return nil, err
		}
		clients = append(clients, c)
		via = c
		if i < len(hops)-1 {
			go traffic.serve(nil, nil)
		} else {
			target = traffic // served once the Conn exists, below
		}
	}
	targetClient := clients[len(clients)-1]
	if cfg.ForwardAgent {
		if err := agent.ForwardToAgent(targetClient, ag.client); err != nil {
			closeAll()
			return nil, &OpError{Addr: r.target.addr(), Op: "session", Err: fmt.Errorf("agent forwarding: %w", err)}
		}
	} else {
		// Logged in: the agent is needed no more, and a connection to it
		// per host would hold a file descriptor here and in the agent for
		// the whole run.
		ag.Close()
		ag = nil
	}
	c := &Conn{
		addr:         r.target.addr(),
		client:       &goph.Client{Client: targetClient},
		hops:         clients[:len(clients)-1],
		agent:        ag,
		forwardAgent: cfg.ForwardAgent,
		sessions:     make(chan struct{}, r.maxSessions),
		stopTimeout:  r.stopTimeout,
		logf:         cfg.Logf,
		closed:       make(chan struct{}),
		running:      make(map[pidSource]bool),
		shellOff:     cfg.SessionPerCommand,
		dead:         make(chan struct{}),
		gone:         make(chan struct{}),
		shells:       make(chan shellRequests),
		testHook:     cfg.testHook,
	}
	// One goroutine answers what the server sends besides data: its global
	// requests, its channel opens, the command shell's requests; and, when
	// the connection ends, records why. x/crypto's Client would run three
	// for the connection and one per session.
	go target.serve(c.shells, func() {
		c.goneErr = c.client.Wait()
		close(c.gone)
	})
	if r.keepAlive > 0 {
		c.keepalive = c.startKeepAlive(r.keepAlive, r.maxMissed)
	}
	c.openShellEarly()
	return c, nil
}

// dialEndpoint connects to ep, directly or through via, and logs in. The
// TCP connect and the whole handshake must finish within timeout. The
// caller must serve the returned traffic (serverTraffic.serve). With
// fullClient, the client is x/crypto's, which handles the channels that the
// server opens itself; else the traffic includes them.
func dialEndpoint(ctx context.Context, via *ssh.Client, ep endpoint, kh *knownHosts, ag *sshAgent, timeout time.Duration, fullClient bool) (*ssh.Client, *serverTraffic, error) {
	addr := ep.addr()
	fail := func(op string, err error) error { return &OpError{Addr: addr, Op: op, Err: err} }
	if via == nil {
		// Waiting for a turn does not count against the timeout.
		release, err := handshakeTurn(ctx, addr)
		if err != nil {
			return nil, nil, fail("dial", err)
		}
		defer release()
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var nc net.Conn
	var err error
	if via == nil {
		var d net.Dialer
		nc, err = d.DialContext(hctx, "tcp", addr)
	} else {
		nc, err = via.DialContext(hctx, "tcp", addr)
	}
	if err != nil {
		if hctx.Err() != nil || isTimeout(err) {
			err = deadlineErr(ctx, timeout, "no connection", "")
		}
		return nil, nil, fail("dial", err)
	}
	// A TCP connection gets a deadline, so that reads in the handshake
	// fail by themselves; a channel through a jump host has none, so the
	// connection is also closed when hctx ends.
	if deadline, ok := hctx.Deadline(); ok {
		_ = nc.SetDeadline(deadline)
	}
	stop := context.AfterFunc(hctx, func() { nc.Close() })

	ids := loadIdentities(ep.identities, ag)
	var refused atomic.Pointer[HostKeyError]
	var hostKeyOK atomic.Bool
	check := kh.callback(&refused)
	conf := &ssh.ClientConfig{
		User: ep.user,
		Auth: []ssh.AuthMethod{ids.method()},
		HostKeyCallback: func(host string, remote net.Addr, key ssh.PublicKey) error {
			err := check(host, remote, key)
			hostKeyOK.Store(err == nil)
			return err
		},
		HostKeyAlgorithms: kh.algorithms(addr),
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, addr, conf)
	interrupted := !stop()
	if err == nil && interrupted {
		sc.Close()
		err = hctx.Err()
	}
	if err != nil {
		nc.Close()
		switch {
		case refused.Load() != nil:
			return nil, nil, fail("handshake", refused.Load())
		case interrupted || hctx.Err() != nil || isTimeout(err):
			return nil, nil, fail("handshake", deadlineErr(ctx, timeout, "no SSH answer", "; the host or its sshd may be hung"))
		case hostKeyOK.Load() && strings.Contains(err.Error(), "unable to authenticate"):
			return nil, nil, fail("auth", &AuthError{User: ep.user, Tried: ids.notes, Err: err})
		default:
			return nil, nil, fail("handshake", err)
		}
	}
	_ = nc.SetDeadline(time.Time{})
	if fullClient {
		// The caller answers the global requests (serverTraffic.serve):
		// the Client's own loop gets none and ends at once.
		return ssh.NewClient(sc, chans, noRequests), &serverTraffic{reqs: reqs}, nil
	}
	// A Client holding the connection alone: its methods (sessions,
	// requests, Dial) need nothing else, and ssh.NewClient would start
	// three goroutines per connection, one of them only to refuse the
	// channels that the server opens.
	return &ssh.Client{Conn: sc}, &serverTraffic{reqs: reqs, chans: chans}, nil
}

// noRequests is a closed channel of global requests.
var noRequests = func() chan *ssh.Request {
	c := make(chan *ssh.Request)
	close(c)
	return c
}()

// serverTraffic is what a server sends over a connection besides channel
// data that the client must answer.
type serverTraffic struct {
	reqs  <-chan *ssh.Request   // global requests
	chans <-chan ssh.NewChannel // channel opens; nil when x/crypto's Client handles them
}

// shellRequests hands a command shell's channel requests to serve.
type shellRequests struct {
	sh   *cmdShell
	reqs <-chan *ssh.Request
}

// serve answers t until the connection ends, then calls ended, if set. It
// answers global requests (keepalives, OpenSSH's hostkeys-00) with "false",
// as x/crypto's Client and OpenSSH do, and refuses channel opens, as
// x/crypto's Client does for types nobody handles. It also takes the
// channel requests of the command shells handed over on shells (see
// cmdShell.request). The connection's end has been reported by the time
// ended is called: reqs and chans are closed as the connection ends, after
// every channel's requests.
func (t *serverTraffic) serve(shells <-chan shellRequests, ended func()) {
	reqs, chans := t.reqs, t.chans
	var cur shellRequests // the newest command shell, while its requests go on
	for reqs != nil || chans != nil {
		select {
		case r, ok := <-reqs:
			if !ok {
				reqs = nil
				continue
			}
			r.Reply(false, nil)
		case nc, ok := <-chans:
			if !ok {
				chans = nil
				continue
			}
			_ = nc.Reject(ssh.UnknownChannelType, fmt.Sprintf("unknown channel type: %v", nc.ChannelType()))
		case s := <-shells:
			if cur.reqs != nil {
				// The previous shell was closed, and its close is not
				// confirmed yet (its requests end then): rare.
				go cur.sh.drain(cur.reqs)
			}
			cur = s
		case r, ok := <-cur.reqs:
			if !ok {
				cur.sh.exited()
				cur = shellRequests{}
				continue
			}
			cur.sh.request(r)
		}
	}
	// Every channel's requests have ended by now.
	if cur.reqs != nil {
		cur.sh.drain(cur.reqs)
	}
	if ended != nil {
		ended()
	}
}

// MaxHandshakesPerAddress caps the SSH handshakes that this process has
// in progress at once with one address (the first hop: the host, or its
// jump host). OpenSSH's sshd starts refusing unauthenticated connections
// beyond its MaxStartups (10 by default), and a fleet behind one bastion
// opens a connection to the bastion per host.
const MaxHandshakesPerAddress = 8

// MaxHandshakes caps the SSH handshakes that this process has in progress
// at once, over all addresses. Thousands at once would share the CPU (key
// exchange, here and on a jump host) until each took longer than
// HandshakeTimeout, and each holds its goroutines' grown stacks until it
// ends; a handshake's time waiting for its turn does not count against
// that timeout. A handshake is about 7 round trips and 1 ms of CPU here:
// at 128, a thousand hosts took 8 rounds of handshakes (6.6 times the time
// of one host in the simulation, go tool mage sim); at 512, 2 rounds (3.8
// times), for about 4 KiB more memory per host than at 128 and 15 KiB less
// than with no cap at all.
const MaxHandshakes = 512

// handshakes holds a semaphore per address with handshakes in progress or
// waiting, and the process-wide one.
var handshakes = struct {
	sync.Mutex
	m   map[string]*handshakeSem
	all chan struct{}
}{m: map[string]*handshakeSem{}, all: make(chan struct{}, MaxHandshakes)}

type handshakeSem struct {
	slots chan struct{}
	users int // holding or waiting for a slot
}

// handshakeTurn waits until fewer than MaxHandshakesPerAddress handshakes
// with addr, and fewer than MaxHandshakes in all, are in progress; release
// ends the caller's.
func handshakeTurn(ctx context.Context, addr string) (release func(), err error) {
	handshakes.Lock()
	s := handshakes.m[addr]
	if s == nil {
		s = &handshakeSem{slots: make(chan struct{}, MaxHandshakesPerAddress)}
		handshakes.m[addr] = s
	}
	s.users++
	handshakes.Unlock()
	leave := func() {
		handshakes.Lock()
		if s.users--; s.users == 0 {
			delete(handshakes.m, addr)
		}
		handshakes.Unlock()
	}
	wait := func(slots chan struct{}) error {
		select {
		case slots <- struct{}{}:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("waiting for a turn to connect: %w", ctx.Err())
		}
	}
	// The address's turn first, so that handshakes queued behind one
	// bastion hold no process-wide turn while they wait.
	if err := wait(s.slots); err != nil {
		leave()
		return nil, err
	}
	if err := wait(handshakes.all); err != nil {
		<-s.slots
		leave()
		return nil, err
	}
	return func() { <-handshakes.all; <-s.slots; leave() }, nil
}

// deadlineErr explains err, a dial that was cancelled or ran out of time:
// ctx's doing, or HandshakeTimeout's.
func deadlineErr(ctx context.Context, timeout time.Duration, what, hint string) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: %w", what, cerr)
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return fmt.Errorf("%s: %w", what, context.DeadlineExceeded)
	}
	return fmt.Errorf("%s within %s (HandshakeTimeout)%s: %w", what, timeout, hint, context.DeadlineExceeded)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
