package sshbackend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/melbahja/goph"
	"golang.org/x/crypto/ssh"

	"github.com/capstan-deploy/capstan/deploylib/backend"
)

// Conn is one SSH connection to a host. It implements [backend.Conn]; its
// methods may be called from several goroutines at once.
type Conn struct {
	addr         string // the target's "host:port"
	client       *goph.Client
	hops         []*ssh.Client // jump host connections, outermost first
	agent        *sshAgent
	forwardAgent bool
	sessions     chan struct{} // one token per open session
	stopTimeout  time.Duration
	logf         func(string, ...any)

	stopMu sync.Mutex // one session at a time stops cancelled commands

	runMu   sync.Mutex
	running map[pidSource]bool // commands running, for Close

	shellMu   sync.Mutex
	shell     *cmdShell     // the idle command shell, if any
	shellBusy bool          // a Run, or Dial's opening, has the command shell (or is opening it)
	shellOpen chan struct{} // while Dial's opening of the command shell is under way; closed when it is done
	shellOff  bool          // no command shell: Config.SessionPerCommand, or it failed
	waiters   atomic.Int32  // callers of acquire waiting for a session slot

	sessionsOpened atomic.Int64 // sessions opened so far, for tests

	closeOnce sync.Once
	closed    chan struct{}
	keepalive *keepAlive // nil when off

	deadOnce sync.Once
	dead     chan struct{} // closed when keepalives declared the host dead
	deadErr  error

	gone    chan struct{} // closed when the connection has ended, for any reason
	goneErr error         // why, as the client reported it

	shells chan shellRequests // command shells' requests, for the connection's goroutine

	testHook func(event string) error // nil but in tests (export_test.go)
}

var _ backend.Conn = (*Conn)(nil)

// Client returns the connection as a goph client, for goph's helpers. Its
// sessions do not count against Config.MaxSessions, and it must not be
// closed directly: use Close. Channels that the server opens (remote port
// forwarding) are refused, except the agent's under Config.ForwardAgent.
func (c *Conn) Client() *goph.Client { return c.client }

// Close closes the connection and its jump host connections, stopping the
// keepalives. Commands still running get SIGTERM (their process groups)
// and their Run calls fail. Close may be called more than once; only the
// first call does anything.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		if pgids := c.runningGroups(); len(pgids) > 0 && c.broken() == nil {
			c.signalGroups(pgids, "TERM")
		}
		close(c.closed)
		err = c.client.Close()
		if c.isDead() || errors.Is(err, net.ErrClosed) {
			err = nil // already closed: by the keepalive, or the host
		}
		for i := len(c.hops) - 1; i >= 0; i-- {
			c.hops[i].Close()
		}
		c.agent.Close()
		c.keepalive.stop()
	})
	return err
}

// track records m as running until the returned function is called.
func (c *Conn) track(m pidSource) (untrack func()) {
	c.runMu.Lock()
	c.running[m] = true
	c.runMu.Unlock()
	return func() {
		c.runMu.Lock()
		delete(c.running, m)
		c.runMu.Unlock()
	}
}

// runningGroups returns the process groups of the commands running.
func (c *Conn) runningGroups() []int {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	var pgids []int
	for m := range c.running {
		if pgid := m.PID(); pgid > 1 {
			pgids = append(pgids, pgid)
		}
	}
	return pgids
}

// die closes the connection because the host stopped answering.
func (c *Conn) die(err error) {
	c.deadOnce.Do(func() {
		c.deadErr = &OpError{Addr: c.addr, Op: "keepalive", Err: err}
		close(c.dead)
		if c.logf != nil {
			c.logf("%v; closing the connection", c.deadErr)
		}
		c.client.Close()
		for i := len(c.hops) - 1; i >= 0; i-- {
			c.hops[i].Close()
		}
	})
}

func (c *Conn) isDead() bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

// broken returns why the connection cannot be used, or nil.
func (c *Conn) broken() error {
	select {
	case <-c.dead:
		return c.deadErr
	default:
	}
	select {
	case <-c.closed:
		return &OpError{Addr: c.addr, Op: "session", Err: ErrClosed}
	default:
		return nil
	}
}

// acquire waits for a free session slot; the caller must call release.
// When every slot is taken, the idle command shell gives its slot up.
func (c *Conn) acquire(ctx context.Context) (release func(), err error) {
	if err := c.broken(); err != nil {
		return nil, err
	}
	select {
	case c.sessions <- struct{}{}:
		return func() { <-c.sessions }, nil
	default:
	}
	// Counted before the eviction, so that a busy command shell going back
	// idle meanwhile sees the waiter and closes instead.
	c.waiters.Add(1)
	defer c.waiters.Add(-1)
	c.evictShell()
	select {
	case c.sessions <- struct{}{}:
		return func() { <-c.sessions }, nil
	case <-ctx.Done():
		return nil, &OpError{Addr: c.addr, Op: "session", Err: ctx.Err()}
	case <-c.dead:
		return nil, c.deadErr
	case <-c.closed:
		return nil, &OpError{Addr: c.addr, Op: "session", Err: ErrClosed}
	}
}

// sessionRetry is how long newSession retries when sshd refuses a session.
const sessionRetry = 3 * time.Second

// newSession opens a session. sshd frees a finished session's slot a
// little after closing its channel, so a session opened right after
// another ended may be refused ("open failed") while fewer than
// MaxSessions are in use: such refusals are retried for a while.
func (c *Conn) newSession(ctx context.Context) (*ssh.Session, error) {
	o, err := c.open(ctx, false)
	return o.sess, err
}

// newChannel opens a session channel without x/crypto's Session, which
// runs a goroutine per session for the channel's requests: the caller
// must take its requests.
func (c *Conn) newChannel(ctx context.Context) (ssh.Channel, <-chan *ssh.Request, error) {
	o, err := c.open(ctx, true)
	return o.ch, o.reqs, err
}

// opened is a session, or with raw a session channel, that open opened.
type opened struct {
	sess *ssh.Session
	ch   ssh.Channel
	reqs <-chan *ssh.Request
	err  error
}

func (o opened) close() {
	if o.sess != nil {
		o.sess.Close()
	}
	if o.ch != nil {
		o.ch.Close()
	}
}

// open opens a session (newSession), or with raw a session channel
// (newChannel), retrying refusals.
func (c *Conn) open(ctx context.Context, raw bool) (opened, error) {
	delay := 2 * time.Millisecond
	deadline := time.Now().Add(sessionRetry)
	for {
		o, err := c.openChannel(ctx, raw)
		if err == nil {
			c.sessionsOpened.Add(1)
			return o, nil
		}
		var ours *OpError
		if errors.As(err, &ours) {
			return opened{}, err // ctx ended or the connection is gone
		}
		if berr := c.broken(); berr != nil {
			return opened{}, berr
		}
		var oe *ssh.OpenChannelError
		if !errors.As(err, &oe) || oe.Reason != ssh.ConnectionFailed || time.Now().After(deadline) {
			return opened{}, &OpError{Addr: c.addr, Op: "session", Err: err}
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return opened{}, &OpError{Addr: c.addr, Op: "session", Err: ctx.Err()}
		case <-c.dead:
			return opened{}, c.deadErr
		case <-c.closed:
			return opened{}, c.broken()
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// openChannel opens a session, or with raw a session channel, giving up
// when ctx ends or the connection does: x/crypto waits for the server's
// answer without a deadline, and a channel opened just as the connection
// ends is never answered.
func (c *Conn) openChannel(ctx context.Context, raw bool) (opened, error) {
	ch := make(chan opened, 1)
	go func() {
		var o opened
		if raw {
			o.ch, o.reqs, o.err = c.client.OpenChannel("session", nil)
		} else {
			o.sess, o.err = c.client.NewSession()
		}
		ch <- o
	}()
	abandon := func() {
		go func() { (<-ch).close() }()
	}
	select {
	case o := <-ch:
		return o, o.err
	case <-ctx.Done():
		abandon()
		return opened{}, &OpError{Addr: c.addr, Op: "session", Err: ctx.Err()}
	case <-c.gone:
		abandon()
		if err := c.broken(); err != nil {
			return opened{}, err
		}
		return opened{}, &OpError{Addr: c.addr, Op: "session", Err: fmt.Errorf("the connection was lost: %v", c.goneErr)}
	}
}

// failure returns the error for a session that broke with err: the
// keepalive's verdict or Close's when there is one.
func (c *Conn) failure(op string, err error) error {
	if berr := c.broken(); berr != nil {
		return berr
	}
	var oe *OpError
	if errors.As(err, &oe) {
		return err
	}
	return &OpError{Addr: c.addr, Op: op, Err: err}
}

// openSession takes a session slot and opens a session in it; done closes
// the session and gives the slot back.
func (c *Conn) openSession(ctx context.Context) (sess *ssh.Session, done func(), err error) {
	release, err := c.acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	if sess, err = c.newSession(ctx); err != nil {
		release()
		return nil, nil, err
	}
	return sess, func() { sess.Close(); release() }, nil
}
