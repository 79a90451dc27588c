package engine

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/console"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Host is one server of a run, as tasks and hooks see it inside [On]. It
// runs commands with [Host.Execute], [Host.Test] and [Host.Capture], and a
// shell line as written with [Host.Sh] and [Host.CaptureSh]; the values
// returned by [Host.Within], [Host.WithEnv], [Host.WithSecretFromEnv] and
// [Host.As] run them in a directory, with extra environment or as another
// user.
//
// [Host.Name] is the host name ("web1"), [Host.String] the login as the
// console shows it ("deploy@web1"), [Host.HasRole] and [Host.Property] read
// the stage's description of the server, which Server holds whole.
type Host struct {
	// Server is the server as the stage describes it: Server.Host is the
	// address as written there ("deploy@web1:2222"), with its roles,
	// properties and flags.
	Server Server
	// Address is Server.Host parsed: user, host name and port.
	Address Address

	run    *Run
	parent *Host // the run's own Host when this one came from Within/WithEnv
	dir    string
	env    map[string]string
	// secretEnv travels on each command's standard input (secret.go).
	secretEnv []secretVar
	// asUser runs each command through sudo as this user (asuser.go).
	asUser string
	// secretErr fails every command: a secret that WithSecretFromEnv could
	// not read.
	secretErr error
}

// String returns "user@host", with ":port" for a port other than 22, as
// the console prints it.
func (h *Host) String() string {
	a := h.Address
	if a.Port == 22 {
		a.Port = 0
	}
	return a.String()
}

// Name returns the host name without user and port.
func (h *Host) Name() string { return h.Address.Host }

// HasRole reports whether the host's server plays role; the role "all"
// matches every server.
func (h *Host) HasRole(role string) bool { return h.Server.HasRole(role) }

// Property returns the server's property key (Server.Properties), or "".
func (h *Host) Property(key string) string { return h.Server.Properties[key] }

func (h *Host) origin() *Host {
	if h.parent != nil {
		return h.parent
	}
	return h
}

// Within returns h running its commands in dir.
func (h *Host) Within(dir string) *Host {
	c := *h
	c.parent = h.origin()
	c.dir = dir
	return &c
}

// WithEnv returns h exporting key=value to its commands.
func (h *Host) WithEnv(key, value string) *Host {
	c := *h
	c.parent = h.origin()
	c.env = make(map[string]string, len(h.env)+1)
	for k, v := range h.env {
		c.env[k] = v
	}
	c.env[key] = value
	return &c
}

// ReleasePath returns the release directory of the run on this host.
func (h *Host) ReleasePath() string { return h.run.ReleasePath() }

// CurrentPath returns <deploy_to>/current.
func (h *Host) CurrentPath() string { return h.run.CurrentPath() }

// SharedPath returns <deploy_to>/shared.
func (h *Host) SharedPath() string { return h.run.SharedPath() }

// RepoPath returns <deploy_to>/repo, the git strategy's mirror.
func (h *Host) RepoPath() string { return h.run.RepoPath() }

func (h *Host) wrap(c shell.Command) shell.Command {
	for k, v := range h.run.Config.Env {
		if _, ok := c.Env[k]; !ok {
			c = c.WithEnv(k, v)
		}
	}
	for k, v := range h.env {
		c = c.WithEnv(k, v)
	}
	if h.dir != "" && c.Dir == "" {
		c = c.In(h.dir)
	}
	return c
}

// Execute runs name with args and fails unless it exits 0. Its output is
// shown on the console, prefixed by the host.
func (h *Host) Execute(ctx context.Context, name string, args ...string) error {
	return h.ExecuteCommand(ctx, shell.New(name, args...))
}

// Test runs name with args and reports whether it exited 0. A non-zero
// exit is not an error; failing to run it is.
func (h *Host) Test(ctx context.Context, name string, args ...string) (bool, error) {
	return h.TestCommand(ctx, shell.New(name, args...))
}

// Capture runs name with args and returns its standard output with
// surrounding white space trimmed; it fails unless the command exits 0.
// At most [MaxCapture] bytes are kept: a command that prints more fails
// with an [*OutputTooLargeError] (after it ends), so a server that never
// stops printing cannot exhaust this machine's memory.
func (h *Host) Capture(ctx context.Context, name string, args ...string) (string, error) {
	return h.CaptureCommand(ctx, shell.New(name, args...))
}

// Sh runs line as the team wrote it, read by the shell on the server (what
// SSHKit's execute does with one string): operators, pipes, globs and
// variables work, as in "mkdir -p tmp && touch tmp/restart.txt". h's
// directory, environment and user still wrap it ([Host.Within],
// [Host.WithEnv], [Host.WithSecretEnv], [Host.As]); the console shows the
// line as written, the log file the whole command; secrets are redacted
// from both; a dry run prints it and runs nothing. It fails unless the line
// exits 0.
//
// Nothing in line is quoted. Write it as a literal, or build it only from
// values the team controls: never put input from outside (a branch name,
// an argument given on the command line, a captured output) into it. For
// a command with such arguments use [Host.Execute], which quotes each one.
func (h *Host) Sh(ctx context.Context, line string) error {
	c, err := shLine(line)
	if err != nil {
		return fmt.Errorf("%s: Sh: %w", h, err)
	}
	return h.ExecuteCommand(ctx, c)
}

// CaptureSh runs line as [Host.Sh] does and returns its standard output as
// [Host.Capture] does: trimmed, not shown on the console (only with -v or
// in a dry run), and failing unless the line exits 0.
func (h *Host) CaptureSh(ctx context.Context, line string) (string, error) {
	c, err := shLine(line)
	if err != nil {
		return "", fmt.Errorf("%s: CaptureSh: %w", h, err)
	}
	return h.CaptureCommand(ctx, c)
}

// WithSecretFromEnv returns h exporting the variable key of the
// environment the run reads (mage's, the deployer's) to its commands under the same
// name, as [Host.WithSecretEnv] does with [SecretFromEnv](key): the value
// travels on standard input, never on a command line, and is redacted from
// all output. When the variable is unset or empty, every command of the
// returned host fails without running, naming the variable.
//
//	h.Within(h.ReleasePath()).WithSecretFromEnv("DATABASE_URL").Execute(ctx, "./bin/migrate", "up")
func (h *Host) WithSecretFromEnv(key string) *Host {
	s, err := secretFromEnv(h.run.getenv, key)
	c := h.WithSecretEnv(key, s)
	if err != nil && c.secretErr == nil {
		c.secretErr = err
	}
	return c
}

// ExecuteCommand is [Host.Execute] for a command value.
func (h *Host) ExecuteCommand(ctx context.Context, c shell.Command) error {
	_, err := h.runCommand(ctx, c, runOpts{})
	return err
}

// TestCommand is [Host.Test] for a command value.
func (h *Host) TestCommand(ctx context.Context, c shell.Command) (bool, error) {
	_, err := h.runCommand(ctx, c, runOpts{hidden: true})
	if err == nil {
		return true, nil
	}
	var ce *CommandError
	if errors.As(err, &ce) && ce.Status > 0 {
		return false, nil
	}
	return false, err
}

// CaptureCommand is [Host.Capture] for a command value.
func (h *Host) CaptureCommand(ctx context.Context, c shell.Command) (string, error) {
	out, err := h.runCommand(ctx, c, runOpts{hidden: true, capture: true})
	return strings.TrimSpace(out), err
}

// Stream runs c with stdin as its standard input (an upload: a tar stream
// piped into tar -x, say) and fails unless it exits 0.
func (h *Host) Stream(ctx context.Context, c shell.Command, stdin io.Reader) error {
	_, err := h.runCommand(ctx, c, runOpts{stdin: stdin})
	return err
}

// kind is how the console shows a command run with o: shown, even when
// its output is captured too, unless hidden.
func (o runOpts) kind() console.Kind {
	switch {
	case o.hidden && o.capture:
		return console.Capture
	case o.hidden:
		return console.Test
	}
	return console.Execute
}

// commandEnd is the one place where the end of a command that ran (a
// single command, or a step of a script) becomes an error: err, as the
// backend reported it, read for its exit status (-1 when it has none) and
// made a *TimeoutError when Config.CommandTimeout stopped the command;
// the command and the last lines of its standard error, redacted. The
// console's and the log's end line show the error's Err and Status
// (console.Exec.End).
func commandEnd(h *Host, cmd string, stderr []byte, err error, timedOut bool) *CommandError {
	var tail bytes.Buffer
	(&tailBuffer{max: stderrTail, buf: &tail}).Write(stderr)
	ce := &CommandError{Host: h.String(), Command: redact(cmd), Status: -1, Stderr: console.Sanitize(redact(tail.String())), Err: err}
	var ee *backend.ExitError
	if timedOut {
		ce.Err = &TimeoutError{After: h.run.Config.CommandTimeout, Err: err}
	} else if errors.As(err, &ee) {
		ce.Status = ee.Status
	}
	return ce
}

type runOpts struct {
	hidden  bool // test and capture commands: shown only when verbose
	capture bool
	stdin   io.Reader
	stdout  io.Writer // receives standard output instead of the console and log
	// untilStopped: the command runs until ctx ends, which is its normal
	// end, not a failure (the logs target, package ops).
	untilStopped bool
}

// stderrTail is how many bytes of stderr a CommandError keeps: the last
// whole lines that fit.
const stderrTail = 4096

// MaxCapture is the most standard output [Host.Capture] and
// [Host.CaptureCommand] keep: 16 MiB. Write more to a file on the server
// and download it instead.
const MaxCapture = 16 << 20

// OutputTooLargeError reports a captured command that printed more than
// [MaxCapture] bytes; the output was not kept.
type OutputTooLargeError struct {
	Host    string
	Command string
	// Printed is how many bytes the command printed before it ended.
	Printed int64
}

func (e *OutputTooLargeError) Error() string {
	return fmt.Sprintf("%s: %s: printed %d bytes, more than Capture keeps (%d bytes); write the output to a file on the server instead",
		e.Host, e.Command, e.Printed, MaxCapture)
}

// runCommand is the one place a command reaches a backend: it wraps c in h's
// directory and environment, announces it on the console, streams its
// output and turns its end into a *CommandError.
func (h *Host) runCommand(ctx context.Context, c shell.Command, o runOpts) (string, error) {
	r := h.run
	c = h.wrap(c)
	// What the console shows is taken before the secret variables and the
	// other user wrap c: they are plumbing around the command.
	var shown string
	if c.HasDisplay() {
		shown = c.Display()
	}
	if err := ctx.Err(); err != nil {
		return "", &CommandError{Host: h.String(), Command: redact(c.String()), Status: -1, Err: err}
	}
	if h.secretErr != nil {
		// Not a CommandError: nothing ran, so On shows the host's ✘ line.
		return "", fmt.Errorf("%s: %w", redact(cmp.Or(shown, c.String())), h.secretErr)
	}
	conn, err := r.dialer.conn(ctx, h)
	if err != nil {
		return "", &CommandError{Host: h.String(), Command: redact(c.String()), Status: -1, Err: &ConnectError{Host: h.String(), Err: err}}
	}
	cmdStr := c.String()
	if vars := h.secretVars(); len(vars) > 0 {
		// Secret values travel on standard input, never on the command
		// line that ps shows (secret.go).
		var serr error
		if c, cmdStr, o.stdin, serr = withSecretStdin(vars, c, o.stdin); serr != nil {
			return "", &CommandError{Host: h.String(), Command: redact(cmdStr), Status: -1, Err: serr}
		}
	}
	if h.asUser != "" {
		c, cmdStr = asUserCmd(h.asUser, c, cmdStr) // asuser.go
	}
	parent := ctx
	if t := r.Config.CommandTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	// The console numbers, shows and logs the command (console.Exec); in
	// a dry run the Printer backend runs nothing.
	ex := r.console.Start(h.String(), cmdStr, console.ExecOptions{Kind: o.kind(), DryRun: r.dryRun, Shown: shown})
	var errBuf bytes.Buffer
	out := &capBuffer{max: MaxCapture}
	stdio := backend.Stdio{Stdin: ex.Upload(o.stdin), Stdout: ex.Stdout()}
	if o.capture {
		stdio.Stdout = io.MultiWriter(out, ex.Stdout())
	}
	if o.stdout != nil {
		stdio.Stdout = o.stdout // a download: the data is not output (download.go)
	}
	stdio.Stderr = io.MultiWriter(&tailBuffer{max: stderrTail, buf: &errBuf}, ex.Stderr())
	err = conn.Run(ctx, c, stdio)
	if err == nil && out.n > out.max {
		err = &OutputTooLargeError{Host: h.String(), Command: redact(cmdStr), Printed: out.n}
		ex.End(err, -1)
		return "", &CommandError{Host: h.String(), Command: redact(cmdStr), Status: -1, Err: err}
	}
	if err == nil {
		ex.End(nil, 0)
		return out.buf.String(), nil
	}
	if o.untilStopped && parent.Err() != nil {
		ex.Stopped()
		return "", nil
	}
	timedOut := parent.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded)
	ce := commandEnd(h, cmdStr, errBuf.Bytes(), err, timedOut)
	ex.End(ce.Err, ce.Status)
	if out.n > out.max {
		return "", ce
	}
	return out.buf.String(), ce
}

// capBuffer keeps what is written to it up to max bytes, and counts the
// rest without keeping it.
type capBuffer struct {
	max int64
	n   int64
	buf bytes.Buffer
}

func (c *capBuffer) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if c.n <= c.max {
		c.buf.Write(p)
	} else if c.buf.Cap() > 0 {
		c.buf = bytes.Buffer{} // give the memory back
	}
	return len(p), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf *bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		chunk := p[:min(len(p), t.max)]
		p = p[len(chunk):]
		t.buf.Write(chunk)
		if over := t.buf.Len() - t.max; over > 0 {
			t.buf.Next(over)
			// Keep whole lines only: a cut line could hold the end of
			// a secret that no longer matches as a whole.
			if i := bytes.IndexByte(t.buf.Bytes(), '\n'); i >= 0 {
				t.buf.Next(i + 1)
			}
		}
	}
	return n, nil
}

// CommandError reports a remote command that failed: where, what, how it
// ended and the last lines of its standard error.
type CommandError struct {
	Host    string
	Command string
	// Status is the exit status, or -1 when the command did not run to an
	// exit status (connection lost, interrupted, killed).
	Status int
	Stderr string
	Err    error
}

func (e *CommandError) Error() string {
	if ce := connectErrorOf(e.Err); ce != nil {
		return ce.Error() // nothing ran: the command is beside the point
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s: %v", e.Host, e.Command, e.Err)
	if s := lastLines(e.Stderr, 5); s != "" {
		b.WriteString("\n    stderr: ")
		b.WriteString(strings.ReplaceAll(s, "\n", "\n            "))
	}
	return b.String()
}

func (e *CommandError) Unwrap() error { return e.Err }

// ExitStatus returns the remote exit status, so mage exits with it.
func (e *CommandError) ExitStatus() int {
	if e.Status > 0 {
		return e.Status
	}
	return 1
}

func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
