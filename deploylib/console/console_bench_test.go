package console

import (
	"io"
	"strings"
	"testing"
	"time"
)

func benchConsole(verbose, color bool) *Console {
	t := time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC)
	return New(io.Discard, Options{Color: color, Verbose: verbose, Now: func() time.Time { return t }})
}

const benchCmd = "cd /srv/shop/repo && ( export GIT_ALLOW_PROTOCOL=file:git:http:https:ssh GIT_TERMINAL_PROMPT=0 ; " +
	"git archive --format=tar 0123456789abcdef0123456789abcdef01234567 | tar -x -f - -C /srv/shop/releases/20261125214042 )"

// BenchmarkCommandAndResult is what every command of a task costs the
// console on one host: the task line is amortised, the command is
// announced (numbered once per task, then looked up for the other hosts)
// and its result printed.
func BenchmarkCommandAndResult(b *testing.B) {
	for _, color := range []bool{false, true} {
		name := "plain"
		if color {
			name = "color"
		}
		b.Run(name, func(b *testing.B) {
			c := benchConsole(false, color)
			c.Task("git:create_release")
			b.ReportAllocs()
			for b.Loop() {
				n := c.Command(benchCmd, false)
				c.Result(n, "deploy@web1", 42*time.Millisecond, false, false)
			}
		})
	}
}

// BenchmarkExec is the whole life of one command on one host as a run
// drives it: announced, logged (to a log writer, as the log file), a line
// of output, and its end.
func BenchmarkExec(b *testing.B) {
	for _, kind := range []struct {
		name string
		kind Kind
	}{{"execute", Execute}, {"capture", Capture}} {
		b.Run(kind.name, func(b *testing.B) {
			t := time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC)
			c := New(io.Discard, Options{Log: io.Discard, RunID: "1f2e3d4c", Now: func() time.Time { return t }})
			c.Task("git:create_release")
			out := []byte("0123456789abcdef0123456789abcdef01234567 1795640000\n")
			b.ReportAllocs()
			for b.Loop() {
				e := c.Start("deploy@web1:22", benchCmd, ExecOptions{Kind: kind.kind})
				e.Stdout().Write(out)
				e.End(nil, 0)
			}
		})
	}
}

// BenchmarkHiddenCommand is a test or capture command outside verbose
// mode: numbered, not printed.
func BenchmarkHiddenCommand(b *testing.B) {
	c := benchConsole(false, false)
	c.Task("deploy:check:directories")
	b.ReportAllocs()
	for b.Loop() {
		n := c.Command(benchCmd, true)
		c.Result(n, "deploy@web1", time.Millisecond, false, true)
	}
}

// BenchmarkTask starts a task, which resets the command numbering.
func BenchmarkTask(b *testing.B) {
	c := benchConsole(false, false)
	b.ReportAllocs()
	for b.Loop() {
		c.Task("deploy:symlink:linked_dirs")
	}
}

// BenchmarkOutputLines streams remote output through the host-prefixed
// line writer: 64 lines of 80 bytes written in uneven pieces, as an SSH
// channel delivers them.
func BenchmarkOutputLines(b *testing.B) {
	c := benchConsole(true, false)
	line := strings.Repeat("x", 79) + "\n"
	data := []byte(strings.Repeat(line, 64))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		w := c.Output(3, "deploy@web1", false)
		for p := data; len(p) > 0; {
			n := min(len(p), 1000)
			w.Write(p[:n])
			p = p[n:]
		}
		w.Flush()
	}
}
