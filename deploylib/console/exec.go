package console

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind says how a command's result is used, which decides how it is shown.
type Kind int

const (
	// Execute is a command whose non-zero exit fails the task; it is
	// always shown.
	Execute Kind = iota
	// Test is a command whose exit status is an answer (0 true, else
	// false); shown only in verbose mode.
	Test
	// Capture is a command whose standard output is wanted; shown only in
	// verbose mode, and when it fails.
	Capture
)

// ExecOptions describe one command for [Console.Start].
type ExecOptions struct {
	Kind Kind
	// DryRun means the command is printed and logged but not run.
	DryRun bool
	// Shown, when set, is what the console shows instead of the whole
	// command (its principal part, without guards and plumbing); the log
	// and verbose mode keep the whole command.
	Shown string
}

// Exec is one command on one host, from its announcement to its result.
// Get one with [Console.Start], feed its output to [Exec.Stdout] and
// [Exec.Stderr], and finish it with [Exec.End].
type Exec struct {
	c     *Console
	n     int
	host  string
	id    string
	kind  Kind
	dry   bool
	show  bool // the command and its output appear on the console
	start time.Time

	out, errw *LineWriter
	errTail   []string

	stdin    *progressReader
	progress time.Time // when the last progress line was printed
	shownUp  bool      // a progress line was printed
}

// stderrLinesShown is how many lines of a failed command's standard error
// follow its ✘ line.
const stderrLinesShown = 20

// Start announces cmd on host and logs it exactly as sent. The console
// numbers it within the current task and prints it once however many
// hosts run it; tests and captures appear only in verbose mode or in a dry
// run.
func (c *Console) Start(host, cmd string, o ExecOptions) *Exec {
	c.mu.Lock()
	defer c.mu.Unlock()
	display := cmd
	if o.Shown != "" && !c.opts.Verbose {
		display = o.Shown
	}
	n, _ := c.numberLocked(display)
	c.seq++
	e := &Exec{
		c: c, n: n, host: host, kind: o.Kind, dry: o.DryRun,
		id:   fmt.Sprintf("%s.%03d", c.opts.RunID, c.seq),
		show: o.Kind == Execute || c.opts.Verbose || o.DryRun,
	}
	if c.opts.RunID == "" {
		e.id = fmt.Sprintf("%03d", c.seq)
	}
	if e.show {
		c.announceLocked(n, display)
	}
	level, verb := "INFO", "Running on"
	if o.Kind != Execute {
		level = "DEBUG"
	}
	if o.DryRun {
		verb = "Dry run, not running on"
	}
	first, rest, more := strings.Cut(cmd, "\n")
	c.logLocked(level, e.id, verb, " ", host, ": ", first)
	for more {
		var l string
		l, rest, more = strings.Cut(rest, "\n")
		c.logLocked(level, e.id, "> ", l)
	}
	e.out = newRedactingLineWriter(func(line string) { e.line(line, false) }, c.opts.Redact)
	e.errw = newRedactingLineWriter(func(line string) { e.line(line, true) }, c.opts.Redact)
	e.start = c.opts.Now()
	return e
}

// N returns the command's number within its task.
func (e *Exec) N() int { return e.n }

// Stdout returns the writer for the command's standard output: whole lines
// go to the console (when the command is shown), prefixed by the host, and
// to the log.
func (e *Exec) Stdout() io.Writer { return e.out }

// Stderr returns the writer for the command's standard error, handled as
// [Exec.Stdout]; its last lines follow the ✘ line when the command fails.
func (e *Exec) Stderr() io.Writer { return e.errw }

func (e *Exec) line(line string, stderr bool) {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.show {
		c.writeLocked(c.outputLine(e.n, e.host, line, stderr))
	}
	tag := "\tout: "
	if stderr {
		tag = "\terr: "
		e.errTail = append(e.errTail, line)
		if over := len(e.errTail) - stderrLinesShown; over > 0 {
			e.errTail = e.errTail[over:]
		}
	}
	c.logLocked("DEBUG", e.id, tag, line)
}

// End reports how the command ended: err is nil on success, status is the
// exit status, or -1 when the command did not run to one (connection lost,
// stopped). A dry-run command ends with a nil err.
func (e *Exec) End(err error, status int) { e.end(err, status, -1) }

// EndAfter is [Exec.End] for a command that ran earlier and took d: a step
// of a remote script, reported once every host has run it.
func (e *Exec) EndAfter(d time.Duration, err error, status int) { e.end(err, status, max(d, 0)) }

func (e *Exec) end(err error, status int, d time.Duration) {
	e.out.Flush()
	e.errw.Flush()
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if d < 0 {
		d = c.opts.Now().Sub(e.start)
	}
	e.endUploadLocked(d)
	if e.dry {
		note := "not run"
		switch e.kind {
		case Test:
			note = "not run; Test reports true"
		case Capture:
			note = `not run; Capture returns ""`
		}
		if e.kind != Execute && !slices.Contains(c.assumed, c.task) {
			c.assumed = append(c.assumed, c.task)
		}
		c.writeLocked(fmt.Sprintf("    %s %02d %s %s", c.faint.Sprint("-"), e.n, c.clean(e.host), c.faint.Sprint(note)))
		return
	}
	secs := "Finished in " + strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + " seconds"
	level := "INFO"
	if e.kind != Execute {
		level = "DEBUG"
	}
	switch {
	case err == nil:
		if e.show {
			c.writeLocked(c.resultLine(e.n, e.host, d, false))
		}
		c.logLocked(level, e.id, secs, " with exit status 0 (successful).")
	case e.kind == Test && status > 0:
		// A false test is an answer, not a failure.
		if e.show {
			c.writeLocked(c.resultLine(e.n, e.host, d, true))
		}
		c.logLocked(level, e.id, fmt.Sprintf("%s with exit status %d (false).", secs, status))
	default:
		if !c.shown[e.n] {
			c.announceLocked(e.n, e.cmdLocked())
		}
		c.writeLocked(c.resultLine(e.n, e.host, d, true))
		detail := e.errTail
		if len(detail) == 0 && status <= 0 {
			detail = strings.Split(err.Error(), "\n")
		}
		for _, l := range detail {
			c.writeLocked("        " + c.red.Sprint(c.clean(l)))
		}
		if status > 0 {
			c.logLocked("ERROR", e.id, fmt.Sprintf("%s with exit status %d (failed).", secs, status))
		} else {
			c.logLocked("ERROR", e.id, fmt.Sprintf("%s without an exit status (failed): %v", secs, err))
		}
	}
}

// cmdLocked finds the command string of e's number in the current task.
func (e *Exec) cmdLocked() string {
	for cmd, n := range e.c.nums {
		if n == e.n {
			return cmd
		}
	}
	return "(command)"
}

// Upload wraps r, the command's standard input, so that the console shows
// the progress of an upload once it passes a few megabytes, and the log
// records how much was sent.
func (e *Exec) Upload(r io.Reader) io.Reader {
	if r == nil {
		return nil
	}
	e.stdin = &progressReader{r: r, e: e, total: sizeOf(r)}
	return e.stdin
}

// progressMin is the size from which an upload shows progress.
const progressMin = 4 << 20

// progressEvery is the least time between two progress lines of a host.
const progressEvery = time.Second

type progressReader struct {
	r     io.Reader
	e     *Exec
	total int64 // -1 when unknown
	sent  int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.sent += int64(n)
		p.e.uploaded(p.sent, p.total)
	}
	return n, err
}

func (e *Exec) uploaded(sent, total int64) {
	if sent < progressMin {
		return
	}
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Now()
	if e.shownUp && now.Sub(e.progress) < progressEvery {
		return
	}
	e.shownUp, e.progress = true, now
	msg := "uploading " + HumanBytes(sent)
	if total > 0 {
		msg += fmt.Sprintf(" of %s (%.0f%%)", HumanBytes(total), 100*float64(sent)/float64(total))
	}
	c.writeLocked(fmt.Sprintf("      %02d %s %s", e.n, e.host, c.faint.Sprint(msg)))
}

// endUploadLocked closes an upload's progress and logs its size.
func (e *Exec) endUploadLocked(d time.Duration) {
	if e.stdin == nil {
		return
	}
	c := e.c
	if e.shownUp {
		c.writeLocked(fmt.Sprintf("      %02d %s %s", e.n, e.host, c.faint.Sprintf("uploaded %s in %.1fs", HumanBytes(e.stdin.sent), d.Seconds())))
	}
	if e.stdin.sent >= uploadLogMin {
		c.logLocked("DEBUG", e.id, fmt.Sprintf("Sent %d bytes on standard input.", e.stdin.sent))
	}
}

// uploadLogMin is the size from which the log records how much a command
// read on its standard input: uploads, not the few bytes of a lock's
// details or of secret variables (whose length is nobody's business).
const uploadLogMin = 64 << 10

// sizeOf returns how many bytes r holds, or -1 when it cannot tell.
func sizeOf(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Len() int }: // bytes.Reader, strings.Reader: what is left
		return int64(v.Len())
	case interface{ Size() int64 }: // io.SectionReader
		return v.Size()
	case *os.File:
		fi, err := v.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return -1
		}
		off, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			return -1
		}
		return fi.Size() - off
	}
	return -1
}

// HumanBytes formats n as "512 B", "4.0 KiB", "12.3 MiB", "1.2 GiB".
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
