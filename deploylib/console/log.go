package console

import (
	"io"
	"strings"
	"time"
)

// The log format, one line each, level right-aligned to six columns as in
// SSHKit's log file:
//
//	  INFO ------------------------------------------------------------------
//	  INFO START 2026-11-25 21:40:42 UTC deploy, stage production, user alice, run 1f2e3d4c
//	  INFO ------------------------------------------------------------------
//	  INFO [1f2e3d4c] 00:00 git:check
//	 DEBUG [1f2e3d4c.001] Running on deploy@web1: ( export ... ; git ls-remote ... )
//	 DEBUG [1f2e3d4c.001] 	out: 0123...	refs/heads/main
//	 DEBUG [1f2e3d4c.001] Finished in 0.412 seconds with exit status 0 (successful).
//
// Commands the console shows are INFO, tests and captures DEBUG; a failed
// command's last line is ERROR. Output lines carry "out:" or "err:".

const logRule = "------------------------------------------------------------------------------"

// logLocked writes one log line. c.mu must be held.
func (c *Console) logLocked(level, id, msg string) {
	c.writeLogLocked(c.logLineLocked(level, id, msg) + "\n")
}

// logLineLocked returns one log line, without its newline, and keeps it
// for the failure report. c.mu must be held.
func (c *Console) logLineLocked(level, id, msg string) string {
	var l strings.Builder
	l.Grow(8 + len(id) + 3 + len(msg))
	for range 6 - len(level) { // "%6s "
		l.WriteByte(' ')
	}
	l.WriteString(level)
	l.WriteByte(' ')
	if id != "" {
		l.WriteByte('[')
		l.WriteString(id)
		l.WriteString("] ")
	}
	l.WriteString(msg)
	line := Sanitize(c.opts.Redact(l.String()))
	// The tail is cut back to logTailMax lines only once it holds twice
	// as many: a copy every logTailMax lines, not one per line.
	c.logTail = append(c.logTail, line)
	if len(c.logTail) >= 2*logTailMax {
		c.logTail = append(c.logTail[:0], c.logTail[len(c.logTail)-logTailMax:]...)
	}
	return line
}

// writeLogLocked writes lines, complete with their newlines, to the log
// file in one write. c.mu must be held.
func (c *Console) writeLogLocked(lines string) {
	if c.opts.Log != nil {
		io.WriteString(c.opts.Log, lines)
	}
}

// logTailLocked returns a copy of the last lines written to the log (at
// most logTailMax). c.mu must be held.
func (c *Console) logTailLocked() []string {
	return append([]string(nil), c.logTail[max(0, len(c.logTail)-logTailMax):]...)
}

// Log writes msg to the log only, at level ("INFO", "DEBUG", "WARN",
// "ERROR"), one line per line of msg, in one write.
func (c *Console) Log(level, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	msg = strings.TrimRight(msg, "\n")
	var b strings.Builder
	b.Grow(len(msg) + (strings.Count(msg, "\n")+1)*(8+len(c.opts.RunID)+3))
	for l := range strings.SplitSeq(msg, "\n") {
		b.WriteString(c.logLineLocked(level, c.opts.RunID, l))
		b.WriteByte('\n')
	}
	c.writeLogLocked(b.String())
}

// LogStart writes the START block that opens a run in the log:
// the time in UTC and what runs.
func (c *Console) LogStart(t time.Time, what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.logLocked("INFO", "", logRule)
	c.logLocked("INFO", "", "START "+t.UTC().Format("2006-01-02 15:04:05 UTC")+" "+what)
	c.logLocked("INFO", "", logRule)
}

// LogTail returns the last lines written to the log in this run (at most
// 20), as they appear in the file.
func (c *Console) LogTail() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logTailLocked()
}
