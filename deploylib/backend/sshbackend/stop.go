package sshbackend

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// How a command is stopped: sshd starts every command without a terminal
// as the leader of a new session and process group (setsid), so the login
// shell's PID is the group's ID. The command is prefixed with a line that
// prints that PID behind a random marker on standard output; pidMarker
// takes the line out of the stream. To stop the command, a second session
// runs kill on the whole group, which works for root logins too.

// maxMarkerScan bounds the output searched for the marker line (shell
// startup files may print before it).
const maxMarkerScan = 64 << 10

// killWait is how long a command gets to go after SIGKILL before Run gives
// up on it.
const killWait = 2 * time.Second

// pidMarker passes standard output through to w, minus the marker line.
type pidMarker struct {
	w      io.Writer
	prefix []byte // "capstan-pid:<random>:"

	mu       sync.Mutex
	buf      []byte // output held while looking for the marker
	scanning bool
	pid      int
	found    chan struct{} // closed when scanning ends
}

func newPIDMarker(w io.Writer) *pidMarker {
	if w == nil {
		w = io.Discard
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &pidMarker{
		w:        w,
		prefix:   []byte("capstan-pid:" + hex.EncodeToString(b[:]) + ":"),
		scanning: true,
		found:    make(chan struct{}),
	}
}

// wrap returns the script that prints the marker line, then runs cmd.
func (m *pidMarker) wrap(cmd string) string {
	return "echo " + string(m.prefix) + "$$\n" + cmd
}

// Write implements io.Writer.
func (m *pidMarker) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.scanning {
		return m.w.Write(p)
	}
	m.buf = append(m.buf, p...)
	for m.scanning {
		i := bytes.IndexByte(m.buf, '\n')
		if i < 0 {
			if len(m.buf) > maxMarkerScan {
				m.done()
			}
			break
		}
		line := m.buf[:i+1]
		m.buf = m.buf[i+1:]
		if bytes.HasPrefix(line, m.prefix) {
			if pid, err := strconv.Atoi(string(bytes.TrimSpace(line[len(m.prefix):]))); err == nil {
				m.pid = pid
			}
			m.done()
			break
		}
		if _, err := m.w.Write(line); err != nil {
			return 0, err
		}
	}
	if !m.scanning && len(m.buf) > 0 {
		rest := m.buf
		m.buf = nil
		if _, err := m.w.Write(rest); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (m *pidMarker) done() {
	m.scanning = false
	close(m.found)
}

// flush writes what is still held back; call it once the stream ended.
func (m *pidMarker) flush() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.scanning {
		m.done()
	}
	if len(m.buf) > 0 {
		_, _ = m.w.Write(m.buf)
		m.buf = nil
	}
}

// detach makes later writes go nowhere: Run calls it before returning, so
// that output arriving late never reaches the caller's writer.
func (m *pidMarker) detach() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.w = io.Discard
	m.buf = nil
}

// gate is a writer that can be detached like pidMarker.
type gate struct {
	mu sync.Mutex
	w  io.Writer
}

func newGate(w io.Writer) *gate {
	if w == nil {
		w = io.Discard
	}
	return &gate{w: w}
}

// Write implements io.Writer.
func (g *gate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.w.Write(p)
}

func (g *gate) detach() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.w = io.Discard
}

// PID returns the command's process group ID, 0 when not known (yet).
func (m *pidMarker) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pid
}

// stop stops a command whose context ended and waits, within bounds, for
// its session to end. done receives Session.Wait's result.
func (c *Conn) stop(sess *ssh.Session, m *pidMarker, done <-chan error) {
	// Honoured by OpenSSH ≥ 7.9 for non-root logins (kill of the group);
	// refused for root logins before OpenSSH 10.0.
	_ = sess.Signal(ssh.SIGTERM)
	grace := time.NewTimer(c.stopTimeout)
	defer grace.Stop()
	select {
	case <-done:
		m.flush()
		return
	case <-m.found:
	case <-grace.C:
		c.logStuck("its process group was never reported")
		return
	}
	pgid := m.PID()
	if pgid <= 1 {
		c.logStuck("its process group was never reported")
		return
	}
	c.signalGroup(pgid, "TERM")
	select {
	case <-done:
		m.flush()
		return
	case <-grace.C:
	}
	c.signalGroup(pgid, "KILL")
	select {
	case <-done:
		m.flush()
	case <-time.After(killWait):
		c.logStuck(fmt.Sprintf("its session did not end after SIGKILL to process group %d", pgid))
	}
}

func (c *Conn) logStuck(why string) {
	if c.logf != nil {
		c.logf("%s: a cancelled command may still be running: %s", c.addr, why)
	}
}

// signalGroup sends sig to the process group pgid from a new session. It
// uses one session beyond MaxSessions, one at a time.
func (c *Conn) signalGroup(pgid int, sig string) {
	c.stopMu.Lock()
	defer c.stopMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.stopTimeout)
	defer cancel()
	s, err := c.newSession(ctx)
	if err != nil {
		if c.logf != nil {
			c.logf("%s: cannot stop process group %d: %v", c.addr, pgid, err)
		}
		return
	}
	defer s.Close()
	done := make(chan error, 1)
	go func() { done <- s.Run(fmt.Sprintf("kill -s %s -- -%d 2>/dev/null; exit 0", sig, pgid)) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
