package deploylib

import (
	"context"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
)

// Host is one server of a run, as tasks and hooks see it inside [On]. It
// runs commands with [Host.Execute], [Host.Test] and [Host.Capture], and a
// shell line as written with [Host.Sh] and [Host.CaptureSh]; the values
// returned by [Host.Within], [Host.WithEnv], [Host.WithSecretFromEnv] and
// [Host.As] run them in a directory, with extra environment or as another
// user.
//
// [Host.Name] is the host name ("web1"), [Host.String] the login as the
// console shows it ("deploy@web1"), [Host.HasRole] and [Host.Property] read
// the stage's description of the server, which Server holds whole.
type Host = engine.Host

// MaxCapture is the most standard output [Host.Capture] and
// [Host.CaptureCommand] keep: 16 MiB. Write more to a file on the server
// and download it instead.
const MaxCapture = engine.MaxCapture

// OutputTooLargeError reports a captured command that printed more than
// [MaxCapture] bytes; the output was not kept.
type OutputTooLargeError = engine.OutputTooLargeError

// CommandError reports a remote command that failed: where, what, how it
// ended and the last lines of its standard error.
type CommandError = engine.CommandError

// Selector picks hosts of a run.
type Selector = engine.Selector

// All selects every host of the run.
func All() Selector { return engine.All() }

// ReleaseHosts selects every host that takes part in releases (all but
// the NoRelease servers); the standard tasks run on these.
func ReleaseHosts() Selector { return engine.ReleaseHosts() }

// Roles selects the hosts that play any of roles. No matching host selects
// nothing, which is not an error (Capistrano's rule: a hook for the db
// role does nothing on a stage without one).
func Roles(roles ...string) Selector { return engine.Roles(roles...) }

// Primary selects the primary host of role: the first server of the role
// marked Primary, else the first server of the role.
func Primary(role string) Selector { return engine.Primary(role) }

// OnOption sets how [On] spreads work over hosts.
type OnOption = engine.OnOption

// InSequence runs one host at a time, waiting wait between hosts, and
// stops at the first failure.
func InSequence(wait time.Duration) OnOption { return engine.InSequence(wait) }

// InGroups runs limit hosts at a time, waiting wait between groups.
func InGroups(limit int, wait time.Duration) OnOption { return engine.InGroups(limit, wait) }

// On runs fn on the hosts sel picks, in parallel by default, and returns
// when every host is done: the block is a barrier. Errors from every host
// are collected and returned together, each naming its host.
func On(ctx context.Context, sel Selector, fn func(ctx context.Context, h *Host) error, opts ...OnOption) error {
	return engine.On(ctx, sel, fn, opts...)
}
