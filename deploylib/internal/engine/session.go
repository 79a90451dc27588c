package engine

import (
	"context"
	"os"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
	"github.com/capstan-deploy/capstan/deploylib/console"
	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// The seam of the operator tools (package ops: doctor, releases, run,
// ssh, logs, config, download). They run on a Session, a run opened from
// options that changes nothing on the servers; they read its hosts,
// console and layout, and run commands through the hosts as any task
// does, so every command ends in the engine's one place (commandEnd in
// host.go). Nothing else of a run is theirs: no lock, no planner, no
// deploy:failed.

// Session is a run opened for an operator tool.
type Session struct{ r *Run }

// OpenSession builds a run from opts as [Start] does (the stage, the
// environment, the log file) without starting anything. Close it.
func OpenSession(opts ...Option) (*Session, error) {
	r, err := newRun(opts...)
	if err != nil {
		return nil, err
	}
	return &Session{r}, nil
}

// SessionOf returns the session of the run ctx belongs to (a tool's, or
// a task's when a team's task calls a tool), or an error outside a run.
func SessionOf(ctx context.Context) (*Session, error) {
	r, err := runOf(ctx)
	if err != nil {
		return nil, err
	}
	return &Session{r}, nil
}

// StartReadOnly opens a session from opts and runs fn as its root under
// [Session.ReadOnly], every host dialed ahead.
func StartReadOnly(ctx context.Context, name string, opts []Option, fn func(ctx context.Context, s *Session) error) error {
	return startReadOnly(ctx, name, opts, func(ctx context.Context, r *Run) error { return fn(ctx, &Session{r}) })
}

// ReadOnly runs fn as the root of the session, with the log's START and
// END lines naming it and Ctrl-C, SIGTERM and SIGHUP handled as for any
// run (an [*InterruptedError]), without dialing the hosts ahead: the tool
// reaches its host its own way (ssh runs the system's ssh).
func (s *Session) ReadOnly(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	return s.r.readOnly(ctx, name, dialNone, func(ctx context.Context, _ *Run) error { return fn(ctx) })
}

// Close closes the session's connections and log file.
func (s *Session) Close() { s.r.close() }

// Bind returns ctx carrying the session's run, for [On] and [CurrentRun]
// in a tool that runs outside [Session.ReadOnly].
func (s *Session) Bind(ctx context.Context) context.Context {
	return context.WithValue(ctx, runKey{}, s.r)
}

// Run returns the session's run: its stage, configuration and start.
func (s *Session) Run() *Run { return s.r }

// Hosts returns the selected hosts (HOSTS and ROLES applied).
func (s *Session) Hosts() []*Host { return s.r.hosts }

// Filter returns the filters that chose the hosts ("HOSTS=web1"), "" for
// none.
func (s *Session) Filter() string { return s.r.filter }

// Console returns the run's console.
func (s *Session) Console() *console.Console { return s.r.console }

// DryRun reports whether commands are printed instead of run.
func (s *Session) DryRun() bool { return s.r.dryRun }

// Layout returns the layout of deploy_to on the servers.
func (s *Session) Layout() remote.Layout { return s.r.layout() }

// Elapsed returns the time since the run started, on the run's clock.
func (s *Session) Elapsed() time.Duration { return s.r.now().Sub(s.r.Started) }

// Interrupted reports whether a signal stopped the run.
func (s *Session) Interrupted() bool { return s.r.intr.signal() != nil }

// UnknownSettings lists the keys of Config.Settings that neither Capstan
// nor the magefile declared, with a suggestion where one is close.
func (s *Session) UnknownSettings() []string {
	return unknownSettings(s.r.Config.Settings, s.r.setup.settings)
}

// LocalShell returns $SHELL as the run read it.
func (s *Session) LocalShell() string { return s.r.env.shell }

// ShellNoExec reports CAPSTAN_SHELL_NO_EXEC: the ssh target runs ssh as
// a child even on a terminal.
func (s *Session) ShellNoExec() bool { return s.r.env.shellNoExec }

// LogStart writes the log's START line for what.
func (s *Session) LogStart(what string) { s.r.logStart(what) }

// LogEnd writes the log's END line for what, with err's outcome.
func (s *Session) LogEnd(what string, err error) { s.r.logEnd(what, err) }

// Follow runs cmd on h until it exits or ctx ends (tail -F): a command
// stopped by ctx's end is shown as stopped, not failed.
func (s *Session) Follow(ctx context.Context, h *Host, cmd shell.Command) error {
	_, err := h.runCommand(ctx, cmd, runOpts{untilStopped: true})
	return err
}

// SubscribeSignals calls fn for every interrupt signal (SIGINT, SIGTERM,
// SIGHUP) until the returned function is called; mage's own handler is
// set aside meanwhile. fn must not block.
func SubscribeSignals(fn func(os.Signal)) (unsubscribe func()) { return subscribeSignals(fn) }

// What the engine and the tools both use.

// Redacted is what a secret prints as.
const Redacted = redacted

// Redact replaces every registered secret and every password in a URL in
// s with [Redacted].
func Redact(s string) string { return redact(s) }

// CountOf returns "1 host", "2 hosts".
func CountOf(n int, word string) string { return countOf(n, word) }

// ShortSHA shortens a commit id to 12 characters.
func ShortSHA(s string) string { return shortSHA(s) }

// StrategyName returns the type of st as a team writes it (deploylib.Git).
func StrategyName(st Strategy) string { return strategyName(st) }

// IsGit reports whether st is the Git strategy, as a value or a pointer.
func IsGit(st Strategy) bool {
	_, ok := strategyAs[Git](st)
	return ok
}

// CommandErrors returns every *CommandError in err's tree, in order.
func CommandErrors(err error) []*CommandError { return commandErrors(err) }

// CommandStatus says how e's command ended ("exit status 3", else its
// error).
func CommandStatus(e *CommandError) string { return e.status() }

// ServerMatches reports whether w names srv the way HOSTS does.
func ServerMatches(srv Server, w string) bool { return srv.matches(w) }

// SSHConfig returns the SSH configuration Capstan's own SSH uses for srv.
func SSHConfig(o SSHOptions, srv Server) sshbackend.Config { return sshConfig(o, srv) }

// HealthCheckDefaults returns hc with the defaults a deploy applies.
func HealthCheckDefaults(hc HealthCheck) HealthCheck { return hc.withDefaults() }

// Tools are the operator tools that [Deployment]'s methods of the same
// names run. Package ops defines them and installs them when it is linked
// (its init): it imports the engine, so the engine cannot call it.
type Tools struct {
	Diagnose, ShowReleases, ShowConfig func(ctx context.Context, opts ...Option) error
	RunAdHoc                           func(ctx context.Context, command string, opts ...Option) error
	OpenShell                          func(ctx context.Context, host string, opts ...Option) error
	FollowLog                          func(ctx context.Context, file string, opts ...Option) error
	DownloadFiles                      func(ctx context.Context, remote, localDir string, opts ...Option) error
}

// tools are the installed operator tools.
var tools Tools

// InstallTools makes t the tools of Deployment's methods.
func InstallTools(t Tools) { tools = t }

// Isolate makes d's runs read getenv instead of the process environment,
// and take their clock from clocks (one clock per run) when no WithClock
// is given: for tests that run Deployments side by side.
func Isolate(d *Deployment, getenv func(string) string, clocks func() func() time.Time) {
	d.getenv, d.clock = getenv, clocks
}
