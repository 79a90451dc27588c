// Package console prints a deploy the way Capistrano's Airbrussh does:
// elapsed time and task name, numbered commands (the same command on
// several hosts shares its number), a ✔ or ✘ line per host with the
// duration, and remote output prefixed by host, one whole line at a time.
//
// A Console is safe for concurrent use: every line is built first and
// written with one Write under a mutex, so lines from parallel hosts never
// interleave mid-line.
package console

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/fatih/color"
	"github.com/mattn/go-isatty"
)

// Options configure a Console.
type Options struct {
	// Color turns colour on. [AutoColor] decides it the usual way.
	Color bool
	// Verbose also shows test and capture commands and their output.
	Verbose bool
	// Redact replaces secrets in every line before it is written.
	Redact func(string) string
	// Now returns the current time; tests fix it. Default time.Now.
	Now func() time.Time
}

// Console writes the progress of a run to an io.Writer.
type Console struct {
	opts  Options
	w     io.Writer
	mu    sync.Mutex
	start time.Time
	task  string
	nums  map[string]int // command string -> number within the current task
	next  int

	green, red, yellow, blue, faint *color.Color
}

// New returns a Console writing to w.
func New(w io.Writer, opts Options) *Console {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Redact == nil {
		opts.Redact = func(s string) string { return s }
	}
	c := &Console{opts: opts, w: w, start: opts.Now(), nums: map[string]int{}}
	mk := func(attrs ...color.Attribute) *color.Color {
		col := color.New(attrs...)
		if opts.Color {
			col.EnableColor()
		} else {
			col.DisableColor()
		}
		return col
	}
	c.green, c.red, c.yellow, c.blue, c.faint = mk(color.FgGreen), mk(color.FgRed), mk(color.FgYellow), mk(color.FgBlue), mk(color.Faint)
	return c
}

// AutoColor reports whether colour suits w: on only for a terminal, off
// under NO_COLOR or TERM=dumb; CAPSTAN_COLOR=always forces it on and
// CAPSTAN_COLOR=never off.
func AutoColor(w io.Writer) bool {
	switch os.Getenv("CAPSTAN_COLOR") {
	case "always":
		return true
	case "never":
		return false
	}
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// Verbose reports whether test and capture commands are shown.
func (c *Console) Verbose() bool { return c.opts.Verbose }

func (c *Console) writeLine(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeLocked(s)
}

func (c *Console) writeLocked(s string) {
	io.WriteString(c.w, c.opts.Redact(s)+"\n")
}

// elapsed returns "MM:SS" since the console started.
func (c *Console) elapsed() string {
	d := c.opts.Now().Sub(c.start)
	return fmt.Sprintf("%02d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

// Task starts a task: its commands are numbered from 01.
func (c *Console) Task(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.task = name
	c.nums = map[string]int{}
	c.next = 0
	c.writeLocked(c.elapsed() + " " + c.blue.Sprint(name))
}

// Command announces cmd and returns its number within the current task.
// The same command string announced again (on another host) shares the
// number and is printed once. A hidden command (test or capture) is
// numbered but printed only in verbose mode.
func (c *Console) Command(cmd string, hidden bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.nums[cmd]; ok {
		return n
	}
	c.next++
	c.nums[cmd] = c.next
	if !hidden || c.opts.Verbose {
		c.writeLocked(fmt.Sprintf("      %02d %s", c.next, oneLine(cmd)))
	}
	return c.next
}

// Result prints how command n ended on host: ✔ on success, ✘ on failure.
func (c *Console) Result(n int, host string, d time.Duration, failed, hidden bool) {
	if hidden && !failed && !c.opts.Verbose {
		return
	}
	mark := c.green.Sprint("✔")
	if failed {
		mark = c.red.Sprint("✘")
	}
	c.writeLine(fmt.Sprintf("    %s %02d %s %s", mark, n, host, c.faint.Sprintf("%.3fs", d.Seconds())))
}

// Output returns a writer for the output of command n on host. Each
// complete line is printed as "      NN host | line"; call Flush on the
// returned writer when the command ends to print a last partial line.
func (c *Console) Output(n int, host string, stderr bool) *LineWriter {
	prefix := fmt.Sprintf("      %02d %s | ", n, host)
	return &LineWriter{emit: func(line string) {
		if stderr {
			line = c.yellow.Sprint(line)
		}
		c.writeLine(prefix + line)
	}}
}

// Info prints a message line.
func (c *Console) Info(format string, args ...any) {
	c.writeLine(c.elapsed() + " " + fmt.Sprintf(format, args...))
}

// Warn prints a warning line.
func (c *Console) Warn(format string, args ...any) {
	c.writeLine(c.elapsed() + " " + c.yellow.Sprint("WARN ") + fmt.Sprintf(format, args...))
}

// Error prints an error block: a title and indented detail lines.
func (c *Console) Error(title string, details ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeLocked(c.red.Sprint(title))
	for _, d := range details {
		for _, l := range strings.Split(strings.TrimRight(d, "\n"), "\n") {
			c.writeLocked("  " + l)
		}
	}
}

// Success prints the closing line of a successful run.
func (c *Console) Success(format string, args ...any) {
	c.writeLine(c.elapsed() + " " + c.green.Sprintf(format, args...))
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
