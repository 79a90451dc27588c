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

// logLocked writes one log line, whose message is the concatenation of
// msg. c.mu must be held.
func (c *Console) logLocked(level, id string, msg ...string) {
	var b strings.Builder
	n := 0
	for _, m := range msg {
		n += len(m)
	}
	b.Grow(logLineSize(level, id, n))
	c.writeLogLocked(c.appendLogLineLocked(&b, level, id, msg...))
}

// logLineSize returns the size of a log line with a message of n bytes,
// newline included, when redacting and sanitizing changed nothing.
func logLineSize(level, id string, n int) int {
	return max(6, len(level)) + 1 + len(id) + 3 + n + 1
}

// appendLogLineLocked appends one log line, with its newline, to b, and
// keeps it for the failure report; it returns b's contents. The line is
// built in b once: redacting and sanitizing copy it only when they change
// it. c.mu must be held.
func (c *Console) appendLogLineLocked(b *strings.Builder, level, id string, msg ...string) string {
	start := b.Len()
	for range 6 - len(level) { // "%6s "
		b.WriteByte(' ')
	}
	b.WriteString(level)
	b.WriteByte(' ')
	if id != "" {
		b.WriteByte('[')
		b.WriteString(id)
		b.WriteString("] ")
	}
	for _, m := range msg {
		b.WriteString(m)
	}
	s := b.String()
	raw := s[start:]
	line := Sanitize(c.opts.Redact(raw))
	if line != raw {
		// Rare: the line had a secret or a control character.
		size := b.Cap() - len(raw) + len(line) + 1
		b.Reset() // s stays as it is
		b.Grow(size)
		b.WriteString(s[:start])
		b.WriteString(line)
	}
	// Writing on after String leaves the strings it returned as they are.
	b.WriteByte('\n')
	s = b.String()
	line = s[len(s)-1-len(line) : len(s)-1]
	// The tail is cut back to logTailMax lines only once it holds twice
	// as many: a copy every logTailMax lines, not one per line.
	c.logTail = append(c.logTail, line)
	if len(c.logTail) >= 2*logTailMax {
		c.logTail = append(c.logTail[:0], c.logTail[len(c.logTail)-logTailMax:]...)
	}
	return s
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
	lines := strings.Count(msg, "\n") + 1
	b.Grow(lines*logLineSize(level, c.opts.RunID, 0) + len(msg))
	s := ""
	for l := range strings.SplitSeq(msg, "\n") {
		s = c.appendLogLineLocked(&b, level, c.opts.RunID, l)
	}
	c.writeLogLocked(s)
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
