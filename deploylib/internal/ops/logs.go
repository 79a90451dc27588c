package ops

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
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
func FollowLog(ctx context.Context, file string, opts ...engine.Option) error {
	if strings.TrimSpace(file) == "" {
		return errors.New("logs: give the file to follow, e.g. mage production logs log/production.log")
	}
	s, err := engine.OpenSession(opts...)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(s.Bind(ctx))
	defer cancel()
	// Ctrl-C ends the following, not the process (mage's own handler is
	// set aside while it runs).
	stop := engine.SubscribeSignals(func(os.Signal) { cancel() })
	defer stop()
	s.LogStart("logs " + strconv.Quote(file))
	s.Console().Task("logs " + file)
	cmd := followCmd(s.Run().CurrentPath(), file, 10)
	// A command stopped by Ctrl-C (ctx ends) ends without an error: what
	// was asked. Any other error is a host that failed, before or after
	// the stop, and fails the whole.
	err = engine.On(ctx, engine.All(), func(ctx context.Context, h *engine.Host) error {
		err := s.Follow(ctx, h, cmd)
		if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil // stopped before its command started (connecting)
		}
		return err
	})
	s.LogEnd("logs", err)
	if err != nil {
		s.Console().Error("logs: " + err.Error())
		return err
	}
	s.Console().Success("logs: stopped following %s on %s", file, engine.CountOf(len(s.Hosts()), "host"))
	return nil
}
