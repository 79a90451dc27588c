package console

import "strings"

// HostFailed prints a ✘ line for host with the lines of err under it, and
// logs them: the failure of work on a host that is not a failed command (a
// hook that returned its own error), which has no ✘ line of its own.
func (c *Console) HostFailed(host, err string) {
	host, err = c.clean(host), c.clean(err)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeLocked("    " + c.red.Sprint("✘") + " " + host)
	for _, l := range strings.Split(strings.TrimRight(err, "\n"), "\n") {
		c.writeLocked("        " + c.red.Sprint(l))
	}
	c.logLocked("ERROR", c.opts.RunID, host+": "+strings.ReplaceAll(err, "\n", " "))
}
