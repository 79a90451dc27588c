// Package console prints a deploy the way Capistrano's Airbrussh does, and
// writes the matching log file.
//
// The console shows the elapsed time and name of each task, each remote
// command numbered within its task (the same command on several hosts
// shares its number), a ✔ or ✘ line per host with the duration, and remote
// output prefixed by host, one whole line at a time:
//
//	00:00 deploy:symlink:release
//	      01 ln -s /srv/shop/releases/20261125214042 /srv/shop/current
//	    ✔ 01 deploy@web1 0.012s
//	    ✘ 01 deploy@web2 0.015s
//	        ln: /srv/shop/current: Permission denied
//
// The log (see [Options].Log) holds every command exactly as sent, with its
// host, all of its output and its timing, in the format of SSHKit's log
// file. Both go through one mutex: every line is built first and written
// with one Write, so lines from parallel hosts never interleave mid-line,
// and every line passes through [Options].Redact first.
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
	"golang.org/x/term"
)

// Options configure a Console.
type Options struct {
	// Color turns colour on. [AutoColor] decides it the usual way.
	Color bool
	// Verbose also shows test and capture commands and their output.
	Verbose bool
	// Redact replaces secrets in every line before it is written, to the
	// console and to the log.
	Redact func(string) string
	// Now returns the current time; tests fix it. Default time.Now.
	Now func() time.Time
	// Log, when set, receives the log file's lines (see the package
	// documentation). The last lines are kept in memory either way, for
	// [Console.LogTail].
	Log io.Writer
	// RunID prefixes the ids of the run's lines in the log ("[RunID]",
	// "[RunID.007]").
	RunID string
	// Width, when positive, truncates announced commands to this many
	// columns (not in verbose mode; the log always has them whole).
	Width int
}

// Console writes the progress of a run to an io.Writer, and its log.
type Console struct {
	opts  Options
	w     io.Writer
	mu    sync.Mutex
	start time.Time
	task  string
	nums  map[string]int // command string -> number within the current task
	shown map[int]bool   // numbers whose command line was printed
	next  int
	seq   int // commands sent in the run, for log ids

	logTail []string
	assumed []string // tasks whose test or capture results a dry run assumed

	green, red, yellow, blue, faint *color.Color
}

// logTailMax is how many log lines the console keeps for a failure report.
const logTailMax = 20

// New returns a Console writing to w.
func New(w io.Writer, opts Options) *Console {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Redact == nil {
		opts.Redact = func(s string) string { return s }
	}
	c := &Console{opts: opts, w: w, start: opts.Now(), nums: map[string]int{}, shown: map[int]bool{}}
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
// under NO_COLOR or TERM=dumb. CAPSTAN_COLOR=always (or FORCE_COLOR set to
// anything but 0) forces it on, CAPSTAN_COLOR=never forces it off. It reads
// the process environment; [WantColor] takes the variables as read.
func AutoColor(w io.Writer) bool { return WantColor(w, ReadColorEnv(os.Getenv)) }

// ColorEnv holds the environment variables that decide colour.
type ColorEnv struct {
	CapstanColor, ForceColor, NoColor, Term string
}

// ReadColorEnv reads the colour variables with getenv.
func ReadColorEnv(getenv func(string) string) ColorEnv {
	return ColorEnv{CapstanColor: getenv("CAPSTAN_COLOR"), ForceColor: getenv("FORCE_COLOR"), NoColor: getenv("NO_COLOR"), Term: getenv("TERM")}
}

// WantColor reports whether colour suits w under the variables e, as
// [AutoColor] describes.
func WantColor(w io.Writer, e ColorEnv) bool {
	switch e.CapstanColor {
	case "always":
		return true
	case "never":
		return false
	}
	if f := e.ForceColor; f != "" && f != "0" {
		return true
	}
	if e.NoColor != "" || e.Term == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// Verbose reports whether test and capture commands are shown.
func (c *Console) Verbose() bool { return c.opts.Verbose }

// writeLocked writes one console line. c.mu must be held.
// clean returns s, text that Capstan did not write itself (remote output,
// an error message, a command with a hostile branch name in it), redacted
// and with its control characters made visible, ready to be coloured.
func (c *Console) clean(s string) string { return Sanitize(c.opts.Redact(s)) }

func (c *Console) writeLocked(s string) {
	io.WriteString(c.w, c.opts.Redact(s)+"\n")
}

func (c *Console) writeLine(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeLocked(s)
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
	c.shown = map[int]bool{}
	c.next = 0
	el := c.elapsed()
	c.writeLocked(el + " " + c.blue.Sprint(c.clean(name)))
	c.logLocked("INFO", c.opts.RunID, el+" "+name)
}

// CurrentTask returns the name of the task started last.
func (c *Console) CurrentTask() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.task
}

// numberLocked returns cmd's number within the current task, and whether it
// is new.
func (c *Console) numberLocked(cmd string) (int, bool) {
	if n, ok := c.nums[cmd]; ok {
		return n, false
	}
	c.next++
	c.nums[cmd] = c.next
	return c.next, true
}

// announceLocked prints command n once per task.
func (c *Console) announceLocked(n int, cmd string) {
	if c.shown[n] {
		return
	}
	c.shown[n] = true
	// Redact before cutting: a secret cut in half by the terminal's edge
	// would no longer match.
	line := oneLine(c.clean(cmd))
	if c.opts.Width > 0 && !c.opts.Verbose {
		line = truncate(line, c.opts.Width-9)
	}
	c.writeLocked(fmt.Sprintf("      %02d %s", n, line))
}

// Command announces cmd and returns its number within the current task.
// The same command string announced again (on another host) shares the
// number and is printed once. A hidden command (test or capture) is
// numbered but printed only in verbose mode. It does not log; [Console.Start]
// does both.
func (c *Console) Command(cmd string, hidden bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, _ := c.numberLocked(cmd)
	if !hidden || c.opts.Verbose {
		c.announceLocked(n, cmd)
	}
	return n
}

// Result prints how command n ended on host: ✔ on success, ✘ on failure.
func (c *Console) Result(n int, host string, d time.Duration, failed, hidden bool) {
	if hidden && !failed && !c.opts.Verbose {
		return
	}
	c.writeLine(c.resultLine(n, host, d, failed))
}

func (c *Console) resultLine(n int, host string, d time.Duration, failed bool) string {
	mark := c.green.Sprint("✔")
	if failed {
		mark = c.red.Sprint("✘")
	}
	return fmt.Sprintf("    %s %02d %s %s", mark, n, c.clean(host), c.faint.Sprintf("%.3fs", d.Seconds()))
}

// Output returns a writer for the output of command n on host. Each
// complete line is printed as "      NN host | line"; call Flush on the
// returned writer when the command ends to print a last partial line.
func (c *Console) Output(n int, host string, stderr bool) *LineWriter {
	return newRedactingLineWriter(func(line string) { c.writeLine(c.outputLine(n, host, line, stderr)) }, c.opts.Redact)
}

func (c *Console) outputLine(n int, host, line string, stderr bool) string {
	line = c.clean(line)
	if stderr {
		line = c.yellow.Sprint(line)
	}
	return fmt.Sprintf("      %02d %s | %s", n, c.clean(host), line)
}

// Info prints a message line, after the elapsed time, and logs it.
func (c *Console) Info(format string, args ...any) {
	msg := c.clean(fmt.Sprintf(format, args...))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeLocked(c.elapsed() + " " + msg)
	c.logLocked("INFO", c.opts.RunID, msg)
}

// Note prints an indented message line under the current task, and logs
// it. Hooks use it (through deploylib.Logf) to say what they do.
func (c *Console) Note(format string, args ...any) {
	msg := c.clean(fmt.Sprintf(format, args...))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range strings.Split(msg, "\n") {
		c.writeLocked("      " + l)
		c.logLocked("INFO", c.opts.RunID, l)
	}
}

// Warn prints a warning line and logs it.
func (c *Console) Warn(format string, args ...any) {
	msg := c.clean(fmt.Sprintf(format, args...))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeLocked(c.elapsed() + " " + c.yellow.Sprint("WARN ") + msg)
	c.logLocked("WARN", c.opts.RunID, msg)
}

// Error prints an error block: a title and indented detail lines.
func (c *Console) Error(title string, details ...string) {
	title = c.clean(title)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeLocked(c.red.Sprint(title))
	c.logLocked("ERROR", c.opts.RunID, title)
	for _, d := range details {
		for _, l := range strings.Split(strings.TrimRight(c.clean(d), "\n"), "\n") {
			c.writeLocked("  " + l)
			c.logLocked("ERROR", c.opts.RunID, "  "+l)
		}
	}
}

// Success prints the closing line of a successful run and logs it.
func (c *Console) Success(format string, args ...any) {
	msg := c.clean(fmt.Sprintf(format, args...))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeLocked(c.elapsed() + " " + c.green.Sprint(msg))
	c.logLocked("INFO", c.opts.RunID, msg)
}

// Print writes text as it is, line by line, to the console and the log:
// reports such as the releases table and the doctor's verdicts.
func (c *Console) Print(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(c.clean(text), "\n"), "\n") {
		c.writeLocked(l)
		c.logLocked("INFO", c.opts.RunID, l)
	}
}

// Failure describes a failed run for [Console.Failed].
type Failure struct {
	// Title is the block's first line: "DEPLOY FAILED".
	Title string
	// Task is the task that failed.
	Task string
	// Commands are the failed commands, one per host.
	Commands []FailedCommand
	// Message is the error, for failures that are not a failed command.
	Message string
	// LogPath is where the full log is, "" when there is no log file.
	LogPath string
}

// FailedCommand is one failed command of a [Failure].
type FailedCommand struct {
	Host    string
	Command string
	// Status is "exit status 3", "killed by signal KILL", "connection
	// lost: ...".
	Status string
}

// Failed prints the failure block: what failed where, then the last 20
// lines of the log (Airbrussh's "DEPLOY FAILED" block).
func (c *Console) Failed(f Failure) {
	f.Title, f.Task, f.Message, f.LogPath = c.clean(f.Title), c.clean(f.Task), c.clean(f.Message), c.clean(f.LogPath)
	cmds := make([]FailedCommand, len(f.Commands))
	for i, fc := range f.Commands {
		cmds[i] = FailedCommand{Host: c.clean(fc.Host), Command: c.clean(fc.Command), Status: c.clean(fc.Status)}
	}
	f.Commands = cmds
	c.mu.Lock()
	defer c.mu.Unlock()
	star := c.red.Sprint("**")
	c.writeLocked(star + " " + c.red.Sprint(f.Title))
	if f.Task != "" {
		c.writeLocked(star + " task:    " + f.Task)
	}
	c.failedCommandsLocked(star, f.Commands) // failed.go
	if f.Message != "" {
		for i, l := range strings.Split(strings.TrimRight(f.Message, "\n"), "\n") {
			if i == 0 {
				c.writeLocked(star + " error:   " + l)
			} else {
				c.writeLocked(star + "          " + l)
			}
		}
	}
	tail := c.logTailLocked()
	if f.LogPath != "" {
		c.writeLocked(fmt.Sprintf("%s Refer to %s for the full log. The last %d lines:", star, f.LogPath, len(tail)))
	} else {
		c.writeLocked(fmt.Sprintf("%s The last %d lines of the log:", star, len(tail)))
	}
	for _, l := range tail {
		c.writeLocked(c.faint.Sprint(l))
	}
}

// DryRunAssumptions returns the tasks in which a dry run answered a test
// (true) or a capture ("") without running it, in the order first seen.
func (c *Console) DryRunAssumptions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.assumed...)
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// truncate shortens s to width runes, ending in "…".
func truncate(s string, width int) string {
	if width < 10 {
		width = 10
	}
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	return string(r[:width-1]) + "…"
}

// AutoWidth returns the width of the terminal w writes to, or 0 when w is
// not a terminal (or COLUMNS says otherwise): commands longer than the
// terminal are cut on the console, never in the log.
func AutoWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok || !isatty.IsTerminal(f.Fd()) {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}
