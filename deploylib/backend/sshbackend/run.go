package sshbackend

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Run implements [backend.Conn]: it runs cmd.String() through the login
// shell without a terminal, feeding it stdio.Stdin and streaming its
// standard output and error separately. Environment variables travel
// inside the command (shell.Command renders them as export), never as SSH
// environment requests, which sshd refuses unless AcceptEnv allows them.
//
// A command without standard input, or whose standard input is comment
// lines (Stdio.CommentLines), runs in the connection's command shell when
// that is idle: one long-lived session that runs one command at a time,
// each in a process of its own, which saves the round trips of opening a
// session per command (see shell.go). Other commands with standard input,
// commands that find the command shell busy and every command under
// Config.SessionPerCommand run in a session of their own. Either way the
// command sees the same login shell, environment and working directory.
//
// With Stdio.CommentLines, wherever the command runs, it is fed only the
// complete lines of Stdin that start with '#', and Run returns once the
// command ended, whether Stdin ended or not: the rest of Stdin is then
// read and dropped, until it ends (not read at all if the command never
// started). In the command shell, the lines are written only once the
// command started, and a line it did not read is a comment to the shell
// (see lineFeed).
//
// When ctx ends first, Run stops the command on the host: SIGTERM to its
// whole process group, then SIGKILL after Config.StopTimeout, sent from a
// second session since OpenSSH before 10.0 ignores signal requests for root
// logins. Processes that left the group (setsid, daemons) are not stopped.
func (c *Conn) Run(ctx context.Context, cmd shell.Command, stdio backend.Stdio) error {
	if err := ctx.Err(); err != nil {
		return &OpError{Addr: c.addr, Op: "run", Err: fmt.Errorf("not started: %w", err)}
	}
	if err := c.broken(); err != nil {
		return err
	}
	if stdio.Stdin == nil || stdio.CommentLines {
		if sh := c.takeShell(ctx); sh != nil {
			err, started := c.runInShell(ctx, sh, cmd, stdio)
			if started {
				return err
			}
			// The shell ended before it started the command: run it in
			// a session of its own instead.
		}
	}
	return c.runSession(ctx, cmd, stdio)
}

// runSession runs cmd in a session of its own.
func (c *Conn) runSession(ctx context.Context, cmd shell.Command, stdio backend.Stdio) error {
	sess, closeSession, err := c.openSession(ctx)
	if err != nil {
		return err
	}
	defer closeSession()
	if c.forwardAgent {
		if err := agent.RequestAgentForwarding(sess); err != nil {
			return c.failure("session", fmt.Errorf("agent forwarding: %w", err))
		}
	}
	marker, stderr := newPIDMarker(stdio.Stdout), newGate(stdio.Stderr)
	defer marker.detach()
	defer stderr.detach()
	var feed *lineFeed
	if stdio.CommentLines && stdio.Stdin != nil {
		// Fed by a lineFeed: only the comment lines, and once the command
		// ended, the rest of Stdin read and dropped, where Session would
		// leave it unread.
		w, err := sess.StdinPipe()
		if err != nil {
			return c.failure("session", err)
		}
		feed = newLineFeed(w)
		defer feed.halt()
	} else {
		sess.Stdin = stdio.Stdin
	}
	sess.Stdout = marker
	sess.Stderr = stderr
	if err := sess.Start(marker.wrap(cmd.String())); err != nil {
		return c.failure("session", err)
	}
	if feed != nil {
		go func() {
			feed.copy(stdio.Stdin, closedChan)
			feed.closeInput()
		}()
	}
	defer c.track(marker)()
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = sess.Wait()
		close(done)
	}()
	select {
	case <-done:
		marker.flush()
		return c.result(waitErr)
	case <-ctx.Done():
		c.stop(sess, marker, done)
		marker.flush()
		return &OpError{Addr: c.addr, Op: "run", Err: fmt.Errorf("stopped: %w", ctx.Err())}
	}
}

// closedChan is a closed channel.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// result turns what Session.Wait returned into Run's error.
func (c *Conn) result(err error) error {
	if err == nil {
		return nil
	}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		return &backend.ExitError{Status: ee.ExitStatus(), Signal: ee.Signal()}
	}
	var me *ssh.ExitMissingError
	if errors.As(err, &me) {
		if berr := c.broken(); berr != nil {
			return berr
		}
		return &backend.ExitError{Status: -1}
	}
	return c.failure("run", err)
}
