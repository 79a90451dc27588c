package console

import (
	"fmt"
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
	line := fmt.Sprintf("%6s ", level)
	if id != "" {
		line += "[" + id + "] "
	}
	line += msg
	line = Sanitize(c.opts.Redact(line))
	if c.opts.Log != nil {
		io.WriteString(c.opts.Log, line+"\n")
	}
	c.logTail = append(c.logTail, line)
	if over := len(c.logTail) - logTailMax; over > 0 {
		c.logTail = append(c.logTail[:0:0], c.logTail[over:]...)
	}
}

// Log writes msg to the log only, at level ("INFO", "DEBUG", "WARN",
// "ERROR"), one line per line of msg.
func (c *Console) Log(level, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		c.logLocked(level, c.opts.RunID, l)
	}
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
	return append([]string(nil), c.logTail...)
}
