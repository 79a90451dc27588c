package deploylib

import (
	"context"

	"github.com/capstan-deploy/capstan/deploylib/internal/ops"
)

// RunAdHoc runs command, a shell command line typed by the operator, on
// every selected host of the stage (HOSTS and ROLES apply) at once, in the
// current release directory where there is one. Output lines are prefixed
// by host. If the command failed on any host, the error names every such
// host and carries the exit status of one of them, which mage exits with.
// Ctrl-C or SIGTERM stops the command on every host, and the error is an
// [*InterruptedError]. It is the run target: mage production run "uptime".
func RunAdHoc(ctx context.Context, command string, opts ...Option) error {
	return ops.RunAdHoc(ctx, command, opts...)
}

// OpenShell opens an interactive login shell on one host of the stage, in
// the current release (else in deploy_to). host picks the host by name
// ("web2") or as the stage writes it ("deploy@web2:2222"); "" takes the
// first selected host (HOSTS and ROLES apply). A server reached over SSH
// gets the system's ssh with the stage's known_hosts, identities, jump
// hosts and ssh_config; a Local server gets $SHELL. It is the ssh target:
// mage production ssh, mage production ssh -host=web2.
//
// On a terminal (but on Windows) the shell replaces this process, so
// Ctrl-C and job control reach it and nothing else. Otherwise (a pipe, a
// script) the shell runs as a child under the run's signal handling:
// Ctrl-C or SIGTERM stops it, and the error is an [*InterruptedError].
func OpenShell(ctx context.Context, host string, opts ...Option) error {
	return ops.OpenShell(ctx, host, opts...)
}

// ShowConfig prints the configuration a run of the selected stage would
// use, with the stage's overrides, BRANCH and the HOSTS and ROLES filters
// applied: the application, repository, branch, deploy_to and the other
// settings, the servers with their roles, and the SSH options. Secrets are
// redacted: values made with NewSecret and passwords in URLs everywhere,
// and the values of settings and environment variables whose names look
// secret (TOKEN, PASSWORD, KEY, ...). It is the config target (Deployer's
// config:dump): mage production config.
func ShowConfig(ctx context.Context, opts ...Option) error { return ops.ShowConfig(ctx, opts...) }

// Diagnose checks every selected host of the stage without changing
// anything: it connects (verifying the host key and the login), and on
// every release host reads, in one command, the state of deploy_to and
// its directories, the free disk space there, the linked files in
// shared/ and, with the git strategy, whether the host has git and can
// read the repository. It prints one table with a verdict per host, then
// what to do about each problem, then the unknown keys of
// Config.Settings. It fails when a host is not ready. It is the doctor
// target: mage production doctor. (deploy:check is the flow's own task,
// which creates the directories and takes the lock, with its hooks.)
func Diagnose(ctx context.Context, opts ...Option) error { return ops.Diagnose(ctx, opts...) }

// DownloadFiles copies the file remote from every selected host of the
// stage (HOSTS and ROLES apply) at once into localDir/<host>/<name>, as
// [Host.Download] does: remote is relative to the current release, or
// absolute. localDir is created if missing; one that cannot be written
// is refused before any host is asked. A host without the file (or
// without a current release, for a relative remote) fails the run,
// named with the path it lacked; the other hosts' files are still
// written. It runs like [RunAdHoc] (the log file, Ctrl-C, no lock). It
// is the download target: mage production download log/production.log
// ./logs.
func DownloadFiles(ctx context.Context, remote string, localDir string, opts ...Option) error {
	return ops.DownloadFiles(ctx, remote, localDir, opts...)
}

// FollowLog follows file on every selected host of the stage (HOSTS and
// ROLES apply) at once, with tail -F, from its last 10 lines, printing its
// lines prefixed by host, until Ctrl-C (or ctx ends): mage production logs
// log/production.log. A relative file is in the current release. Ending
// it with Ctrl-C is a success; a host where the file cannot be followed
// (tail exits) fails it.
func FollowLog(ctx context.Context, file string, opts ...Option) error {
	return ops.FollowLog(ctx, file, opts...)
}

// Release is one release directory on one host, as [ListReleases]
// reports it.
type Release = ops.Release

// HostReleases is what one host holds in <deploy_to>/releases.
type HostReleases = ops.HostReleases

// ListReleases asks every release host of the run of ctx, with one
// command each, for its releases. A host that cannot be asked has Err set;
// the error returned joins those.
func ListReleases(ctx context.Context) ([]HostReleases, error) { return ops.ListReleases(ctx) }

// ShowReleases prints, per host of the selected stage, the releases newest
// first: which is current, its revision, who deployed it and when, and
// which never finished; then where the hosts disagree. It is the releases
// target: mage production releases.
func ShowReleases(ctx context.Context, opts ...Option) error {
	return ops.ShowReleases(ctx, opts...)
}
