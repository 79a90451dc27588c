package sshbackend

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"
)

// How a command is stopped: sshd starts every command without a terminal
// as the leader of a new session and process group (setsid), so the login
// shell's PID is the group's ID. A command in a session of its own is
// prefixed with a line that prints that PID behind a random marker on
// standard output, and pidMarker takes the line out of the stream; the
// command shell (shell.go) reports its own PID before every command. To
// stop the command, a second session runs kill on the whole group, which
// works for root logins too. For a command run in the command shell, the
// group is the shell's: the shell goes too, and is replaced later.

// killWait is how long a command gets to go after SIGKILL before Run gives
// up on it.
const killWait = 2 * time.Second

// signalTimeout bounds a session that sends signals.
const signalTimeout = 5 * time.Second

// pidSource reports the process group of a running command: a
// pidMarker for a command in a session of its own, the command shell's for
// a command run there.
type pidSource interface {
	// PID returns the process group ID, 0 when not known (yet).
	PID() int
	// Found returns a channel closed once PID will not change any more.
	Found() <-chan struct{}
}

// signaler is a session that signals can be sent to: an ssh.Session or the
// command shell.
type signaler interface{ Signal(ssh.Signal) error }

// stop stops a command whose context ended and waits, within bounds, for
// its session to end: done is closed when it has.
func (c *Conn) stop(sess signaler, p pidSource, done <-chan struct{}) {
	// Honoured by OpenSSH ≥ 7.9 for non-root logins (kill of the group);
	// refused for root logins before OpenSSH 10.0.
	_ = sess.Signal(ssh.SIGTERM)
	grace := time.NewTimer(c.stopTimeout)
	defer grace.Stop()
	select {
	case <-done:
		return
	case <-p.Found():
	case <-grace.C:
		c.logStuck("its process group was never reported")
		return
	}
	pgid := p.PID()
	if pgid <= 1 {
		c.logStuck("its process group was never reported")
		return
	}
	c.signalGroups([]int{pgid}, "TERM")
	select {
	case <-done:
		return
	case <-grace.C:
	}
	c.signalGroups([]int{pgid}, "KILL")
	select {
	case <-done:
	case <-time.After(killWait):
		c.logStuck(fmt.Sprintf("its session did not end after SIGKILL to process group %d", pgid))
	}
}

func (c *Conn) logStuck(why string) {
	if c.logf != nil {
		c.logf("%s: a cancelled command may still be running: %s", c.addr, why)
	}
}

// signalGroups sends sig to the process groups pgids from a new session.
// It uses one session beyond MaxSessions, one at a time, and gives up
// after signalTimeout.
func (c *Conn) signalGroups(pgids []int, sig string) {
	c.stopMu.Lock()
	defer c.stopMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), signalTimeout)
	defer cancel()
	s, err := c.newSession(ctx)
	if err != nil {
		if c.logf != nil {
			c.logf("%s: cannot stop process groups %v: %v", c.addr, pgids, err)
		}
		return
	}
	defer s.Close()
	script := "kill -s " + sig + " --"
	for _, pgid := range pgids {
		script += " -" + strconv.Itoa(pgid)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(script + " 2>/dev/null; exit 0") }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
