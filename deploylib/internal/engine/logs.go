package engine

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// followCmd follows file (relative to current when it exists) from its
// last lines on, across rotation (tail -F).
func followCmd(current, file string, lines int) shell.Command {
	return shell.New("cd", current).Quiet().Then(shell.New("tail", "-n", strconv.Itoa(lines), "-F", "--", file))
}

// FollowLog follows file on every selected host of the stage (HOSTS and
// ROLES apply) at once, with tail -F, from its last 10 lines, printing its
// lines prefixed by host, until Ctrl-C (or ctx ends): mage production logs
// log/production.log. A relative file is in the current release. Ending
// it with Ctrl-C is a success; a host where the file cannot be followed
// (tail exits) fails it.
func FollowLog(ctx context.Context, file string, opts ...Option) error {
	if strings.TrimSpace(file) == "" {
		return errors.New("logs: give the file to follow, e.g. mage production logs log/production.log")
	}
	r, err := newRun(opts...)
	if err != nil {
		return err
	}
	defer r.close()
	ctx, cancel := context.WithCancel(context.WithValue(ctx, runKey{}, r))
	defer cancel()
	// Ctrl-C ends the following, not the process (mage's own handler is
	// set aside while it runs).
	stop := subscribeSignals(func(os.Signal) { cancel() })
	defer stop()
	r.logStart("logs " + strconv.Quote(file))
	r.console.Task("logs " + file)
	cmd := followCmd(r.CurrentPath(), file, 10)
	// A command stopped by Ctrl-C (ctx ends) ends without an error: what
	// was asked. Any other error is a host that failed, before or after
	// the stop, and fails the whole.
	err = On(ctx, All(), func(ctx context.Context, h *Host) error {
		_, err := h.runCommand(ctx, cmd, runOpts{untilStopped: true})
		if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil // stopped before its command started (connecting)
		}
		return err
	})
	r.logEnd("logs", err)
	if err != nil {
		r.console.Error("logs: " + err.Error())
		return err
	}
	r.console.Success("logs: stopped following %s on %s", file, countOf(len(r.hosts), "host"))
	return nil
}
