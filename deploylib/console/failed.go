package console

import "strings"

// failedCommandsLocked prints the failed commands of a failure block. A
// command that failed on one host gets its host, command and status; a
// command that failed on several is said once, followed by each host and
// how it ended there. On a terminal the command is cut at its edge (the
// log has every command whole). c.mu must be held.
func (c *Console) failedCommandsLocked(star string, cmds []FailedCommand) {
	var order []string
	byCmd := map[string][]FailedCommand{}
	for _, fc := range cmds {
		if _, ok := byCmd[fc.Command]; !ok {
			order = append(order, fc.Command)
		}
		byCmd[fc.Command] = append(byCmd[fc.Command], fc)
	}
	for _, cmd := range order {
		line := oneLine(cmd)
		if c.opts.Width > 0 && !c.opts.Verbose {
			line = truncate(line, c.opts.Width-12)
		}
		group := byCmd[cmd]
		if len(group) == 1 {
			c.writeLocked(star + " host:    " + group[0].Host)
			c.writeLocked(star + " command: " + line)
			c.writeLocked(star + " status:  " + group[0].Status)
			continue
		}
		c.writeLocked(star + " command: " + line)
		var same []string
		for _, fc := range group {
			if fc.Status == group[0].Status {
				same = append(same, fc.Host)
			}
		}
		if len(same) == len(group) {
			c.writeLocked(star + " hosts:   " + strings.Join(same, ", "))
			c.writeLocked(star + " status:  " + group[0].Status)
			continue
		}
		for _, fc := range group {
			c.writeLocked(star + " host:    " + fc.Host + ": " + fc.Status)
		}
	}
}
