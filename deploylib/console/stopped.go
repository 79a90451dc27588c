package console

import "fmt"

// Stopped ends a command that was meant to run until it is stopped (a
// followed log file): "- NN host stopped after 3.2s", not a failure.
func (e *Exec) Stopped() {
	e.out.Flush()
	e.errw.Flush()
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.opts.Now().Sub(e.start)
	if e.show {
		c.writeLocked(fmt.Sprintf("    %s %02d %s %s", c.faint.Sprint("-"), e.n, c.clean(e.host), c.faint.Sprintf("stopped after %.1fs", d.Seconds())))
	}
	c.logLocked("INFO", e.id, fmt.Sprintf("Stopped after %.3f seconds, as asked.", d.Seconds()))
}
