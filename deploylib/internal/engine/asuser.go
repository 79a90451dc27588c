package engine

import (
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// As returns h running its commands as user, through sudo without a
// password prompt (sudo -n -u user -- sh -c '...'): the directory,
// environment and secret variables of h apply inside, as user. The login
// user needs a sudoers rule that lets it run commands as user without a
// password (deploy ALL=(www-data) NOPASSWD: ALL); otherwise the command
// fails at once with sudo's "a password is required", never waiting at a
// prompt.
//
//	h.As("www-data").Within(h.CurrentPath()).Execute(ctx, "./bin/cache", "clear")
func (h *Host) As(user string) *Host {
	c := *h
	c.parent = h.origin()
	c.asUser = user
	return &c
}

// asUserCmd wraps c, whose console form is display, to run as user with
// sudo, and returns the command and its console form.
func asUserCmd(user string, c shell.Command, display string) (shell.Command, string) {
	wrap := func(script string) shell.Command {
		return shell.New("sudo", "-n", "-u", user, "--", "sh", "-c", script)
	}
	return wrap(c.String()), wrap(display).String()
}
