package remote

import "github.com/capstan-deploy/capstan/deploylib/shell"

// shown marks c as a principal command: the console shows it as it is,
// and leaves out the guards and plumbing of the script around it.
func shown(c shell.Command) shell.Command { return c.Shown(c.String()) }
