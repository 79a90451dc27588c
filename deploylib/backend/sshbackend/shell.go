package sshbackend

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// The command shell: a session of its own costs a command two round trips
// before it starts (channel open, exec request), so each connection keeps
// one long-lived session running /bin/sh, reading commands on its standard
// input, and runs there the commands that have no standard input of their
// own, one at a time: one round trip each. Dial opens it in the background
// (openShellEarly), so that the first command does not pay its opening.
//
// The session's exec request is "exec /bin/sh": the login shell reads its
// startup files once, and /bin/sh, not interactive, none. For every
// command, Run writes a script (shellScript): one compound command
// ({ ...; }), which the shell reads and parses whole before it runs any of
// it, and which
//
//   - prints a begin line with a random token and the shell's PID (its
//     process group, see stop.go) on standard output, and the token on
//     standard error;
//   - runs the command in a process of its own (so cd, variables and exit
//     stay there): a command that needs the login shell (a team's or
//     operator's shell line, shell.Command.NeedsLoginShell) as sshd would
//     in a session of its own ($SHELL -c COMMAND, and $0 the shell's name),
//     any other, which the shell package renders for every POSIX sh, with
//     /bin/sh -c COMMAND ($0 "sh"), which starts and forks in about half
//     the time of bash; with its standard input
//     from /dev/null (so that it cannot read the following scripts), or,
//     for a command whose input is comment lines (backend.Stdio's
//     CommentLines), the shell's own (see lineFeed);
//   - prints an end token with the exit status right after the command's
//     last byte on standard output, and the end token on standard error.
//
// So when the begin line arrives, the shell has read the whole script and
// reads nothing more from its standard input until the command ended: a
// comment line that Run writes there from then on is the command's to
// read, and one it did not read is a comment to the shell after it.
//
// shellStream hands each stream's bytes between the two tokens to the
// command's writer as they arrive, byte for byte: nothing is added, and
// what comes before a begin line (startup file output) is dropped. The
// command is done when both end tokens arrived.
//
// The command's process is a child of a command substitution that prints
// its status, so that the shell's message about a child killed by a signal
// ("Killed", printed by dash) is caught there: its presence tells a signal
// from an exit status above 128, and kill -l names the signal. Shells that
// print no such message (bash as /bin/sh) report the status alone.
//
// A command that is cancelled takes the shell with it (its process group is
// the shell's), and so does a shell that ends: the next command opens a
// new one.

// shellProgram is the command shell session's command.
const shellProgram = "exec /bin/sh"

// shellInit is written before the first script: fds 8 and 9 keep the
// session's standard output and error for the commands while a command
// substitution reads their exit status; SHLVL=1 keeps bash from reading
// ~/.bashrc again for every command (it does so for a shell it believes
// sshd started: SSH_CLIENT set and SHLVL below 2); capstan_sh is the login
// shell, which sshd gives as $SHELL.
const shellInit = "exec 8>&1 9>&2; SHLVL=1; export SHLVL; capstan_sh=${SHELL:-/bin/sh}\n"

// scriptTemplate runs one command; see shellScript. The tokens are printed
// in two parts, so that they appear nowhere in the script itself. The
// braces make it one compound command, which the shell parses whole before
// it prints the begin line; the closing one is on a line of its own, after
// the end lines (the simulated fleet's shell, deploylib/internal/sim,
// looks for the end line's printf followed by a newline). @IN@ is the
// command's standard input: "</dev/null " (stdinNull), or nothing for a
// command that reads comment lines from the shell's own.
const scriptTemplate = `{ printf '%s%s %s\n' capstan-begin: @TOK@ "$$"; printf '%s%s\n' capstan-begin: @TOK@ >&2
capstan_r=$( { ( exec @SH@ -c @CMD@ @ZERO@ @IN@>&8 2>&9 8>&- 9>&- ); echo "$?"; } 2>&1 )
capstan_s=${capstan_r##*[!0-9]} capstan_g=-
if [ "$capstan_r" != "$capstan_s" ] && [ "$capstan_s" -gt 128 ] 2>/dev/null; then capstan_g=$(kill -l "$capstan_s" 2>/dev/null); fi
printf '%s%s %s %s\n' capstan-end: @TOK@ "$capstan_s" "$capstan_g"; printf '%s%s\n' capstan-end: @TOK@ >&2
}
`

// stdinNull is the standard input of a command run in the command shell,
// unless it reads comment lines (scriptTemplate's @IN@).
const stdinNull = "</dev/null "

// shellScript returns the script that runs cmd in the command shell,
// framed by the begin and end tokens of tok (hexadecimal digits), with its
// standard input from /dev/null.
func shellScript(tok, cmd string) string {
	return string(appendShellScript(nil, tok, cmd, false, false))
}

// The shells that run a command (scriptTemplate's @SH@, and @ZERO@ its
// $0): the user's login shell, as sshd would, for a command that needs it
// (shell.Command.NeedsLoginShell: a team's or operator's shell line), and
// /bin/sh for every other, which the shell package renders for any POSIX
// sh: Capstan's own scripts. On most servers /bin/sh (dash) starts and
// forks in about half the time of bash, and a script of steps forks for
// every program it starts.
const (
	loginShell, loginZero = `"$capstan_sh"`, `"${capstan_sh##*/}"`
	posixShell, posixZero = `/bin/sh`, `sh`
)

// appendShellScript appends the script that runs cmd in the command shell
// to dst: the template's text, tok for each @TOK@, cmd quoted for @CMD@,
// for @SH@ and @ZERO@ the login shell, or /bin/sh when posix is set, and,
// for @IN@, stdinNull, or nothing when commentLines is set (cmd reads the
// shell's standard input), in one pass, so that the command's text is
// copied once and never searched.
func appendShellScript(dst []byte, tok, cmd string, commentLines, posix bool) []byte {
	sh, zero := loginShell, loginZero
	if posix {
		sh, zero = posixShell, posixZero
	}
	t := scriptTemplate
	for {
		i := strings.IndexByte(t, '@')
		if i < 0 {
			return append(dst, t...)
		}
		dst = append(dst, t[:i]...)
		switch t = t[i:]; {
		case strings.HasPrefix(t, "@TOK@"):
			dst, t = append(dst, tok...), t[len("@TOK@"):]
		case strings.HasPrefix(t, "@CMD@"):
			dst, t = shell.AppendQuote(dst, cmd), t[len("@CMD@"):]
		case strings.HasPrefix(t, "@SH@"):
			dst, t = append(dst, sh...), t[len("@SH@"):]
		case strings.HasPrefix(t, "@ZERO@"):
			dst, t = append(dst, zero...), t[len("@ZERO@"):]
		case strings.HasPrefix(t, "@IN@"):
			if !commentLines {
				dst = append(dst, stdinNull...)
			}
			t = t[len("@IN@"):]
		default:
			dst, t = append(dst, '@'), t[1:]
		}
	}
}

func beginToken(tok string) string { return "capstan-begin:" + tok }
func endToken(tok string) string   { return "capstan-end:" + tok }

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// cmdShell is a command shell session. It is a bare session channel, not
// x/crypto's Session, which would hold a goroutine for its requests as long
// as it is open: the connection's goroutine takes them (serverTraffic.serve
// and request).
type cmdShell struct {
	ch        ssh.Channel
	out, errs *shellStream
	ended     chan struct{} // closed when both streams ended
	waitDone  chan struct{} // closed when the session's requests ended, with the channel
	release   func()        // gives the session slot back
	closeOnce sync.Once

	// Set by the connection's goroutine, read once waitDone is closed.
	status  int    // the exit status, -1 when none came
	signal  string // the signal that killed the shell, if any came
	waitErr error  // a malformed exit-signal request

	pid      atomic.Int64
	pidKnown chan struct{}
	pidOnce  sync.Once

	// Used only by the Run that has the shell.
	initSent bool
	ran      int // commands run to their end
}

// PID implements pidSource: the shell's PID is its process group's ID.
func (sh *cmdShell) PID() int { return int(sh.pid.Load()) }

// Found implements pidSource.
func (sh *cmdShell) Found() <-chan struct{} { return sh.pidKnown }

func (sh *cmdShell) setPID(arg string) {
	pid, err := strconv.Atoi(strings.TrimSpace(arg))
	if err != nil || pid <= 1 {
		return
	}
	sh.pid.Store(int64(pid))
	sh.pidOnce.Do(func() { close(sh.pidKnown) })
}

func (sh *cmdShell) isEnded() bool {
	select {
	case <-sh.ended:
		return true
	default:
		return false
	}
}

// close closes the session and gives its slot back.
func (sh *cmdShell) close() {
	sh.closeOnce.Do(func() {
		sh.ch.Close()
		sh.release()
	})
}

// Signal sends sig to the shell, as ssh.Session.Signal does.
func (sh *cmdShell) Signal(sig ssh.Signal) error {
	_, err := sh.ch.SendRequest("signal", false, ssh.Marshal(struct{ Signal string }{string(sig)}))
	return err
}

// request takes one of the session's requests, as ssh.Session does: the
// exit status or signal is recorded, and any other request (OpenSSH's
// keepalives under ClientAliveInterval) is answered "false". The
// connection's goroutine calls it.
func (sh *cmdShell) request(r *ssh.Request) {
	switch r.Type {
	case "exit-status":
		if len(r.Payload) >= 4 {
			sh.status = int(binary.BigEndian.Uint32(r.Payload))
		}
	case "exit-signal":
		var sig struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}
		if err := ssh.Unmarshal(r.Payload, &sig); err != nil {
			if sh.waitErr == nil {
				sh.waitErr = err
			}
			return
		}
		sh.signal = sig.Signal
	default:
		if r.WantReply {
			_ = r.Reply(false, nil)
		}
	}
}

// exited is called by the connection's goroutine when the session's
// requests ended: the channel is closed, and no exit status comes any more.
func (sh *cmdShell) exited() { close(sh.waitDone) }

// drain takes the rest of the session's requests, until they end.
func (sh *cmdShell) drain(reqs <-chan *ssh.Request) {
	for r := range reqs {
		sh.request(r)
	}
	sh.exited()
}

// watch hands the session's requests to the connection's goroutine, or
// takes them here if the connection has ended (they have ended then too),
// or in a goroutine of their own if ctx ends first.
func (c *Conn) watch(ctx context.Context, sh *cmdShell, reqs <-chan *ssh.Request) {
	select {
	case c.shells <- shellRequests{sh, reqs}:
	case <-c.gone:
		sh.drain(reqs)
	case <-ctx.Done():
		go sh.drain(reqs)
	}
}

// awaitExit waits a little for the exit status of a shell whose streams
// ended: it comes with the channel's close, right after.
func (sh *cmdShell) awaitExit() {
	select {
	case <-sh.waitDone:
	case <-time.After(time.Second):
	}
}

// exitText describes how the shell session ended, "" when not known.
func (sh *cmdShell) exitText() string {
	select {
	case <-sh.waitDone:
	default:
		return ""
	}
	// As ssh.Session.Wait would have reported it.
	switch {
	case sh.waitErr != nil:
		return sh.waitErr.Error()
	case sh.status == 0:
		return "exit status 0"
	case sh.signal != "":
		return "killed by signal " + sh.signal
	case sh.status < 0:
		return "no exit status"
	default:
		return "exit status " + strconv.Itoa(sh.status)
	}
}

// takeShell returns the command shell for the caller's use, opening it if
// needed, or nil when the caller should use a session of its own: the
// shell is off, busy with another command, or cannot be opened now. While
// Dial's opening of the shell is under way, it waits for that first, or
// for ctx or Close. The caller must give it back with putShell.
func (c *Conn) takeShell(ctx context.Context) *cmdShell {
	c.shellMu.Lock()
	for c.shellOpen != nil {
		// Dial's opening of the shell is under way: its end comes sooner
		// than a session of our own would open.
		opening := c.shellOpen
		c.shellMu.Unlock()
		_ = c.hook("shell-wait")
		select {
		case <-opening:
		case <-ctx.Done():
			return nil
		case <-c.closed:
			return nil
		}
		c.shellMu.Lock()
	}
	if c.shellOff || c.shellBusy {
		c.shellMu.Unlock()
		return nil
	}
	sh := c.shell
	c.shell = nil
	c.shellBusy = true
	c.shellMu.Unlock()
	if sh != nil && sh.isEnded() { // it ended while idle
		sh.close()
		sh = nil
	}
	if sh == nil {
		var err error
		if sh, err = c.openShell(ctx); err != nil && ctx.Err() == nil && c.broken() == nil {
			c.disableShell(err)
		}
		if sh == nil {
			c.putShell(nil, false)
			return nil
		}
	}
	return sh
}

// openShellEarly opens the command shell in the background, unless it is
// off: Dial calls it once the connection is ready, so that the first
// command finds the shell open, or waits for its opening (takeShell),
// instead of paying the round trips of the session's opening itself. An
// opening that fails leaves things as they were before it: the shell
// turned off (disableShell) when the server refused it as a command
// shell, else none, and the next command opens one.
func (c *Conn) openShellEarly() {
	c.shellMu.Lock()
	if c.shellOff {
		c.shellMu.Unlock()
		return
	}
	opening := make(chan struct{})
	c.shellOpen = opening
	c.shellBusy = true
	c.shellMu.Unlock()
	go func() {
		// Background: the opening stops when the connection ends (open
		// and watch wait for that too), not when Dial's context does.
		ctx := context.Background()
		var sh *cmdShell
		err := c.hook("shell-opening")
		if err == nil {
			sh, err = c.openShell(ctx)
		}
		if err != nil && c.broken() == nil {
			c.disableShell(err)
		}
		c.putShell(sh, true)
		c.shellMu.Lock()
		c.shellOpen = nil
		c.shellMu.Unlock()
		close(opening)
		_ = c.hook("shell-opened")
	}()
}

// hook calls the test hook, if any, with event, and returns its error.
func (c *Conn) hook(event string) error {
	if c.testHook == nil {
		return nil
	}
	return c.testHook(event)
}

// putShell gives the command shell back: idle again when keep is set and
// nobody waits for a session slot, else closed.
func (c *Conn) putShell(sh *cmdShell, keep bool) {
	c.shellMu.Lock()
	c.shellBusy = false
	if keep && sh != nil && c.waiters.Load() == 0 && c.broken() == nil {
		c.shell, sh = sh, nil
	}
	c.shellMu.Unlock()
	if sh != nil {
		sh.close()
	}
}

// evictShell closes the command shell if it is idle, freeing its slot.
func (c *Conn) evictShell() {
	c.shellMu.Lock()
	sh := c.shell
	c.shell = nil
	c.shellMu.Unlock()
	if sh != nil {
		sh.close()
	}
}

// disableShell turns the command shell off for the connection: every
// command gets a session of its own from now on.
func (c *Conn) disableShell(why error) {
	c.shellMu.Lock()
	c.shellOff = true
	c.shellMu.Unlock()
	if c.logf != nil {
		c.logf("%s: no command shell, a session per command from now on: %v", c.addr, why)
	}
}

// openShell opens a command shell session. It returns nil, nil when every
// session slot is taken or others wait for one (the command had better
// queue for a session of its own than take a slot from them), or when no
// session could be opened; an error means that the session opened but
// cannot be a command shell.
func (c *Conn) openShell(ctx context.Context) (*cmdShell, error) {
	if c.waiters.Load() > 0 {
		return nil, nil
	}
	select {
	case c.sessions <- struct{}{}:
	default:
		return nil, nil
	}
	release := sync.OnceFunc(func() { <-c.sessions })
	ch, reqs, err := c.newChannel(ctx)
	if err != nil {
		// Maybe for a while only (sshd's MaxSessions): the command tries a
		// session of its own, and the next one the command shell again.
		release()
		return nil, nil
	}
	sh := &cmdShell{
		ch:       ch,
		ended:    make(chan struct{}),
		waitDone: make(chan struct{}),
		release:  release,
		pidKnown: make(chan struct{}),
		status:   -1,
	}
	c.watch(ctx, sh, reqs)
	fail := func(err error) (*cmdShell, error) {
		sh.close()
		return nil, c.failure("session", fmt.Errorf("command shell: %w", err))
	}
	// The requests of ssh.Session's StartAgentForwarding and Start.
	if c.forwardAgent {
		ok, err := ch.SendRequest("auth-agent-req@openssh.com", true, nil)
		if err == nil && !ok {
			err = errors.New("forwarding request denied")
		}
		if err != nil {
			return fail(fmt.Errorf("agent forwarding: %w", err))
		}
	}
	ok := false
	err = c.hook("shell-exec") // a test's refusal, or a pause
	if err == nil {
		ok, err = ch.SendRequest("exec", true, ssh.Marshal(struct{ Command string }{shellProgram}))
	}
	if err == nil && !ok {
		err = fmt.Errorf("ssh: command %v failed", shellProgram)
	}
	if err != nil {
		return fail(err)
	}
	sh.out = &shellStream{onBegin: sh.setPID}
	sh.errs = &shellStream{}
	var open atomic.Int32
	open.Store(2)
	streamEnded := func() {
		if open.Add(-1) == 0 {
			close(sh.ended)
		}
	}
	go sh.out.read(ch, streamEnded)
	go sh.errs.read(ch.Stderr(), streamEnded)
	return sh, nil
}

// runInShell runs cmd in the command shell sh, which the caller took with
// takeShell, and gives sh back. started is false when the shell ended
// before it started cmd: cmd did not run at all, nothing of stdio.Stdin
// was read, and err is nil. With stdio.CommentLines, cmd reads the
// shell's standard input, where the comment lines of stdio.Stdin are
// written while it runs (lineFeed); otherwise stdio.Stdin must be nil.
func (c *Conn) runInShell(ctx context.Context, sh *cmdShell, cmd shell.Command, stdio backend.Stdio) (err error, started bool) {
	keep := false
	defer func() { c.putShell(sh, keep) }()
	tok := newToken()
	fo := sh.out.expect(tok, stdio.Stdout)
	fe := sh.errs.expect(tok, stdio.Stderr)
	defer sh.out.detach(fo)
	defer sh.errs.detach(fe)
	text := cmd.String()
	// The command quoted: up to a few characters more for its quotes.
	script := make([]byte, 0, len(shellInit)+len(scriptTemplate)+len(text)+len(text)/16+4*len(tok)+16)
	if !sh.initSent {
		script = append(script, shellInit...)
		sh.initSent = true
	}
	lines := stdio.CommentLines && stdio.Stdin != nil
	script = appendShellScript(script, tok, text, lines, !cmd.NeedsLoginShell())
	defer c.track(sh)()
	// In the background: a write blocks while the shell reads nothing, and
	// it fails once the session is closed, which also ends the streams.
	var feed *lineFeed
	if lines {
		feed = newLineFeed(sh.ch)
		defer feed.halt()
		feed.lock()
		go feed.writeScript(script)
		go feed.copy(stdio.Stdin, fo.begun)
	} else {
		go writeScript(sh.ch, script)
	}

	outDone, errDone := fo.done, fe.done
	for outDone != nil || errDone != nil {
		select {
		case <-outDone:
			outDone = nil
		case <-errDone:
			errDone = nil
		case <-sh.ended:
			if fo.isDone() && fe.isDone() {
				outDone, errDone = nil, nil
				continue
			}
			if berr := c.broken(); berr != nil {
				return berr, true
			}
			if !fo.isBegun() {
				// Not started. A shell that never ran anything is no use
				// on this host (a forced command, an odd login shell).
				if sh.ran == 0 {
					sh.awaitExit()
					c.disableShell(fmt.Errorf("the command shell ended at once (%s)", sh.exitText()))
				}
				return nil, false
			}
			return c.shellLost(sh), true
		case <-ctx.Done():
			c.stop(sh, sh, sh.ended)
			return &OpError{Addr: c.addr, Op: "run", Err: fmt.Errorf("stopped: %w", ctx.Err())}, true
		}
	}
	sh.ran++
	// A line being written when the command ended is read by the shell,
	// as a comment, before the next script, if its write completes.
	keep = feed == nil || feed.stop(ctx, sh.ended)
	return c.shellResult(fo, fe), true
}

// maxScriptPacket bounds the data of each SSH packet that carries a
// script. x/crypto keeps, for the life of a connection, a buffer the size of
// the largest packet a channel wrote and another that of the largest packet
// the connection encrypted: a script written in one piece (a few KiB, more
// for long commands) would cost that twice per host for the whole run.
const maxScriptPacket = 1 << 10

// writeScript writes script to w, maxScriptPacket bytes at a time, until
// it is written or a write fails.
func writeScript(w io.Writer, script []byte) {
	for len(script) > 0 {
		n := min(len(script), maxScriptPacket)
		if _, err := w.Write(script[:n]); err != nil {
			return
		}
		script = script[n:]
	}
}

// shellResult turns the end line of a command run in the command shell
// into Run's error. An end line that is not "STATUS [SIGNAL]" (a broken or
// hostile server) is an error naming the host and quoting what it sent.
func (c *Conn) shellResult(fo, fe *frame) error {
	f := strings.Fields(fo.trailer)
	status := -1
	if len(f) == 1 {
		f = append(f, "-") // kill -l named no signal
	}
	if len(f) == 2 {
		if n, err := strconv.Atoi(f[0]); err == nil && n >= 0 && n <= 255 && validSignal(f[1]) {
			status = n
		}
	}
	if status < 0 {
		return &OpError{Addr: c.addr, Op: "run", Err: fmt.Errorf("the command shell's end line is not an exit status (%q); the server's shell is broken or hostile: %w",
			fo.trailer, &backend.ExitError{Status: -1})}
	}
	if status == 0 {
		// Like Session.Wait: an output error matters only after success.
		if err := cmp.Or(fo.werr, fe.werr); err != nil {
			return c.failure("run", err)
		}
		return nil
	}
	ee := &backend.ExitError{Status: status}
	if f[1] != "-" && status > 128 {
		ee.Signal = f[1]
	}
	return ee
}

// validSignal reports whether s is "-" or a signal name as kill -l prints
// it (KILL, TERM, RTMIN+3).
func validSignal(s string) bool {
	if s == "-" {
		return true
	}
	if s == "" || len(s) > 16 {
		return false
	}
	for _, r := range s {
		if !('A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '+' || r == '-') {
			return false
		}
	}
	return true
}

// shellLost returns the error for a command whose shell ended before the
// command's end was reported.
func (c *Conn) shellLost(sh *cmdShell) error {
	sh.awaitExit()
	if berr := c.broken(); berr != nil {
		return berr
	}
	why := "the command shell ended before the command did"
	if how := sh.exitText(); how != "" {
		why += " (" + how + ")"
	}
	return &OpError{Addr: c.addr, Op: "run", Err: fmt.Errorf("%s: %w", why, &backend.ExitError{Status: -1})}
}
