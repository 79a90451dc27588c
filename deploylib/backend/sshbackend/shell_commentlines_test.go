//go:build unix

package sshbackend_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// A command whose standard input is comment lines (Stdio.CommentLines)
// runs in the command shell, and reads the lines written there while it
// runs. These tests run each case on a connection with the command shell
// and on one with a session per command: both must behave alike, and the
// first must open no session for the command.

// watchWriter records what a command prints and closes seen once that
// holds want.
type watchWriter struct {
	mu   sync.Mutex
	b    strings.Builder
	want string
	seen chan struct{}
	once sync.Once
}

func newWatchWriter(want string) *watchWriter {
	return &watchWriter{want: want, seen: make(chan struct{})}
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if strings.Contains(w.b.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// lockedBuffer is a strings.Builder safe for a concurrent String.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// linesRun is a command run with comment lines from a pipe, in the
// background.
type linesRun struct {
	stdin  *io.PipeWriter
	stdout *watchWriter // watching for "ready\n"
	stderr lockedBuffer
	errc   chan error
}

// startLines starts cmd on c with CommentLines and a pipe for Stdin, which
// the test closes when it ends.
func startLines(t *testing.T, ctx context.Context, c *sshbackend.Conn, cmd string) *linesRun {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	r := &linesRun{stdin: pw, stdout: newWatchWriter("ready\n"), errc: make(chan error, 1)}
	go func() {
		r.errc <- c.Run(ctx, shell.Raw(cmd), backend.Stdio{Stdin: pr, Stdout: r.stdout, Stderr: &r.stderr, CommentLines: true})
	}()
	return r
}

// ready waits for the command to print "ready".
func (r *linesRun) ready(t *testing.T) {
	t.Helper()
	select {
	case <-r.stdout.seen:
	case err := <-r.errc:
		t.Fatalf("the command ended before it was ready: %v, stdout %q, stderr %q", err, r.stdout.String(), r.stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("the command was not ready within 20s: stdout %q", r.stdout.String())
	}
}

// write writes s to the command's input, in the background (a pipe's
// write waits for its reader), and returns a channel closed once the
// write returned.
func (r *linesRun) write(s string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.WriteString(r.stdin, s)
	}()
	return done
}

// wait waits for Run to return.
func (r *linesRun) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.errc:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("Run did not return within 20s: stdout %q, stderr %q", r.stdout.String(), r.stderr.String())
		return nil
	}
}

// commentLinesConns returns a connection with the command shell and one
// with a session per command, to a one-host lab.
func commentLinesConns(t *testing.T) map[string]*sshbackend.Conn {
	t.Helper()
	_, reuse, perCommand := startBoth(t)
	// The command shell is open, or being opened (Dial): a first command
	// makes sure of it before the tests count sessions.
	if _, _, err := run(context.Background(), reuse, shell.New("true")); err != nil {
		t.Fatal(err)
	}
	return map[string]*sshbackend.Conn{"command shell": reuse, "session per command": perCommand}
}

// expectShell checks that the commands since sessions were counted
// (before) ran in the command shell, if c has one.
func expectShell(t *testing.T, name string, c *sshbackend.Conn, before int64) {
	t.Helper()
	if n := sshbackend.SessionsOpened(c) - before; name == "command shell" && n != 0 {
		t.Errorf("%s: %d sessions opened, want none: the commands should run in the command shell", name, n)
	}
}

// scratchFile returns a path in /tmp that does not exist, removed when t
// ends.
func scratchFile(t *testing.T) string {
	t.Helper()
	p := fmt.Sprintf("/tmp/capstan-commentlines-%d-%d", os.Getpid(), rand.Int64())
	t.Cleanup(func() { os.Remove(p) })
	return p
}

// TestCommentLinesReadByCommand: a line written once the command printed
// "ready" is read by the command's read, and so is a second line written
// with it, one line at a time.
func TestCommentLinesReadByCommand(t *testing.T) {
	t.Parallel()
	for name, c := range commentLinesConns(t) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		before := sshbackend.SessionsOpened(c)
		r := startLines(t, ctx, c, `echo ready; IFS= read -r x; echo "got:$x"; IFS= read -r y; echo "got:$y"`)
		r.ready(t)
		r.write("#hello\n#wor ld \\n\n")
		if err := r.wait(t); err != nil || r.stdout.String() != "ready\ngot:#hello\ngot:#wor ld \\n\n" || r.stderr.String() != "" {
			t.Errorf("%s: stdout %q, stderr %q, %v", name, r.stdout.String(), r.stderr.String(), err)
		}
		expectShell(t, name, c, before)
		// The connection still runs commands as before.
		if o, e, err := run(ctx, c, shell.New("echo", "next")); o != "next\n" || e != "" || err != nil {
			t.Errorf("%s: next command: %q, %q, %v", name, o, e, err)
		}
	}
}

// TestCommentLinesNotRead: a line written while the command runs, which
// it does not read, is a comment to the command shell: the next command
// runs as if it had not been written. A line that does not start with '#'
// is never written: had it been, the shell would have run it.
func TestCommentLinesNotRead(t *testing.T) {
	t.Parallel()
	for name, c := range commentLinesConns(t) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		before := sshbackend.SessionsOpened(c)
		touched := scratchFile(t)
		// bash's read -t 0 tells whether input is waiting, reading none.
		r := startLines(t, ctx, c, `echo ready; bash -c 'until read -t 0; do sleep 0.01; done'; echo "input waiting"`)
		r.ready(t)
		r.write("touch " + touched + "\n#; echo LEAKED\n")
		if err := r.wait(t); err != nil || r.stdout.String() != "ready\ninput waiting\n" || r.stderr.String() != "" {
			t.Errorf("%s: stdout %q, stderr %q, %v", name, r.stdout.String(), r.stderr.String(), err)
		}
		o, e, err := run(ctx, c, shell.New("echo", "next"))
		if o != "next\n" || e != "" || err != nil {
			t.Errorf("%s: next command: %q, %q, %v", name, o, e, err)
		}
		if _, err := os.Stat(touched); err == nil {
			t.Errorf("%s: a line that does not start with '#' was run", name)
		}
		expectShell(t, name, c, before)
	}
}

// TestCommentLinesAfterTheEnd: lines written once the command ended are
// dropped: they reach neither the shell nor the next command, which
// reads its own lines.
func TestCommentLinesAfterTheEnd(t *testing.T) {
	t.Parallel()
	for name, c := range commentLinesConns(t) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		before := sshbackend.SessionsOpened(c)
		touched := scratchFile(t)
		first := startLines(t, ctx, c, `echo first`)
		if err := first.wait(t); err != nil || first.stdout.String() != "first\n" {
			t.Fatalf("%s: first command: %q, %v", name, first.stdout.String(), err)
		}
		second := startLines(t, ctx, c, `echo ready; IFS= read -r x; echo "got:$x"`)
		second.ready(t)
		// Read from the first command's input (its write returned) while
		// the second command waits for a line: dropped.
		select {
		case <-first.write("#late\ntouch " + touched + "\n"):
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the first command's input is not read once the command ended", name)
		}
		second.write("#mine\n")
		if err := second.wait(t); err != nil || second.stdout.String() != "ready\ngot:#mine\n" || second.stderr.String() != "" {
			t.Errorf("%s: second command: stdout %q, stderr %q, %v", name, second.stdout.String(), second.stderr.String(), err)
		}
		if o, e, err := run(ctx, c, shell.New("echo", "next")); o != "next\n" || e != "" || err != nil {
			t.Errorf("%s: next command: %q, %q, %v", name, o, e, err)
		}
		if _, err := os.Stat(touched); err == nil {
			t.Errorf("%s: a line written after the command ended was run", name)
		}
		expectShell(t, name, c, before)
	}
}

// TestCommentLinesInputNeverEnds: Run returns when the command ended,
// though its input is a pipe that nobody writes or closes until then, and
// the command shell runs the next command.
func TestCommentLinesInputNeverEnds(t *testing.T) {
	t.Parallel()
	for name, c := range commentLinesConns(t) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		before := sshbackend.SessionsOpened(c)
		pr, pw := io.Pipe()
		var out strings.Builder
		errc := make(chan error, 1)
		go func() {
			errc <- c.Run(ctx, shell.Raw("echo hi; exit 3"), backend.Stdio{Stdin: pr, Stdout: &out, CommentLines: true})
		}()
		select {
		case err := <-errc:
			var ee *backend.ExitError
			if !errors.As(err, &ee) || ee.Status != 3 || out.String() != "hi\n" {
				t.Errorf("%s: %q, %v, want hi and exit status 3", name, out.String(), err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: Run did not return within 20s of a command that ends at once", name)
		}
		pw.Close()
		if o, e, err := run(ctx, c, shell.New("echo", "next")); o != "next\n" || e != "" || err != nil {
			t.Errorf("%s: next command: %q, %q, %v", name, o, e, err)
		}
		expectShell(t, name, c, before)
	}
}

// TestCommentLinesCancel: a command waiting for a line that never comes is
// stopped when ctx ends, and the connection runs the next command.
func TestCommentLinesCancel(t *testing.T) {
	t.Parallel()
	for name, c := range commentLinesConns(t) {
		ctx, cancel := context.WithCancel(context.Background())
		r := startLines(t, ctx, c, `echo ready; IFS= read -r x; echo "got:$x"`)
		r.ready(t)
		cancel()
		if err := r.wait(t); !errors.Is(err, context.Canceled) || strings.Contains(r.stdout.String(), "got:") {
			t.Errorf("%s: stdout %q, %v, want an error wrapping context.Canceled", name, r.stdout.String(), err)
		}
		// Written once Run returned: dropped.
		r.write("#late\n")
		if o, e, err := run(context.Background(), c, shell.New("echo", "next")); o != "next\n" || e != "" || err != nil {
			t.Errorf("%s: next command: %q, %q, %v", name, o, e, err)
		}
	}
}

// TestCommentLinesConcurrent: commands with comment lines, run at once on
// one connection (in the command shell when it is idle, else in sessions
// of their own), each read their own lines only.
func TestCommentLinesConcurrent(t *testing.T) {
	t.Parallel()
	_, _, c := startOne(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const workers, each = 4, 6
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				want := fmt.Sprintf("#w%d-%d", w, i)
				r := startLines(t, ctx, c, `echo ready; IFS= read -r x; echo "got:$x"`)
				select {
				case <-r.stdout.seen:
				case err := <-r.errc:
					t.Errorf("%s: ended before it was ready: %v, %q", want, err, r.stdout.String())
					return
				case <-ctx.Done():
					t.Errorf("%s: not ready", want)
					return
				}
				r.write(want + "\n" + "#extra, not read\n")
				var err error
				select {
				case err = <-r.errc:
				case <-ctx.Done():
					err = ctx.Err()
				}
				if err != nil || r.stdout.String() != "ready\ngot:"+want+"\n" || r.stderr.String() != "" {
					t.Errorf("%s: stdout %q, stderr %q, %v", want, r.stdout.String(), r.stderr.String(), err)
				}
				r.stdin.Close()
			}
		})
	}
	wg.Wait()
	if o, e, err := run(ctx, c, shell.New("echo", "next")); o != "next\n" || e != "" || err != nil {
		t.Errorf("next command: %q, %q, %v", o, e, err)
	}
}
