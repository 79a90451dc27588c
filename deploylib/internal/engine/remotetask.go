package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Declarative hooks: a task that only runs one command on some hosts,
// declared as data (a selector, a directory, a command) instead of a Go
// function. Its definition is a step (plan.go), like a standard task's:
// run on its own it sends its command to the hosts it selects, and hung
// with Before, After or Append next to standard tasks it joins their
// script on each host, so it costs no round trip of its own. A Go function
// hook cannot be looked into, so it stays a barrier.

// Dir says in which directory a [RemoteTask]'s command runs: [InRelease],
// [InCurrent], [InLogin] or [InDir].
type Dir struct {
	kind dirKind
	path string
}

type dirKind int

const (
	dirLogin dirKind = iota
	dirRelease
	dirCurrent
	dirPath
)

var (
	// InRelease runs the command in the release this run deploys or rolls
	// back to ([Host.ReleasePath]): hang it after deploy:updated (or any
	// task after deploy:new_release_path). Before the release is named it
	// is current, Capistrano's rule.
	InRelease = Dir{kind: dirRelease}
	// InCurrent runs the command in <deploy_to>/current.
	InCurrent = Dir{kind: dirCurrent}
	// InLogin runs the command in the login directory of the SSH user.
	InLogin = Dir{kind: dirLogin}
)

// InDir runs the command in path, on every selected host.
func InDir(path string) Dir {
	if path == "" {
		panic("deploylib: InDir with an empty path (use InLogin for the login directory)")
	}
	return Dir{kind: dirPath, path: path}
}

// of returns d on h, "" for the login directory.
func (d Dir) of(h *Host) string {
	switch d.kind {
	case dirRelease:
		return h.ReleasePath()
	case dirCurrent:
		return h.CurrentPath()
	case dirPath:
		return d.path
	}
	return ""
}

// RemoteTask returns a task named name that runs command with args (each
// quoted, as [Host.Execute] does) in dir on the hosts hosts selects, and
// registers it as a team task (mage <stage> task <name> runs it). Hang it
// with [Before], [After] or [Append]: next to standard tasks it runs inside
// their remote script on each host and costs no round trip of its own,
// where a Go function hook is a barrier (docs/hooks.md). It fails as a
// standard task does: its host, command and exit status are named and
// deploy:failed runs.
//
//	restart := deploylib.RemoteTask("app:restart", "Restarts the app.",
//		deploylib.Roles("app"), deploylib.InCurrent, "touch", "tmp/restart.txt")
//	deploylib.After(deploylib.Published, restart)
//
// The selector picks among the run's hosts; a selection with a NoRelease
// server runs on its own, as a barrier, since the scripts run on the
// release hosts.
func RemoteTask(name, doc string, hosts Selector, dir Dir, command string, args ...string) *Task {
	return defaultDeployment.RemoteTask(name, doc, hosts, dir, command, args...)
}

// RemoteSh is [RemoteTask] for a shell line, read by the shell on the
// server as [Host.Sh] reads it (operators, pipes, globs and variables
// work; nothing in it is quoted, so build it only from values the team
// controls).
func RemoteSh(name, doc string, hosts Selector, dir Dir, line string) *Task {
	return defaultDeployment.RemoteSh(name, doc, hosts, dir, line)
}

// RemoteTask returns a declarative task and registers it as a team task
// of d (see the package-level [RemoteTask]).
func (d *Deployment) RemoteTask(name, doc string, hosts Selector, dir Dir, command string, args ...string) *Task {
	if command == "" {
		panic("deploylib: RemoteTask " + name + " with an empty command")
	}
	return d.remoteTask(name, doc, hosts, dir, shell.New(command, args...))
}

// RemoteSh returns a declarative task running a shell line and registers
// it as a team task of d (see the package-level [RemoteSh]).
func (d *Deployment) RemoteSh(name, doc string, hosts Selector, dir Dir, line string) *Task {
	c, err := shLine(line)
	if err != nil {
		panic(fmt.Sprintf("deploylib: RemoteSh %s: %v", name, err))
	}
	return d.remoteTask(name, doc, hosts, dir, c)
}

func (d *Deployment) remoteTask(name, doc string, hosts Selector, dir Dir, c shell.Command) *Task {
	if hosts == nil {
		panic("deploylib: remote task " + name + " with a nil selector")
	}
	t := d.NewTask(name, doc, nil)
	t.plan, t.declarative = remoteStep(hosts, dir, c), true
	return t
}

// remoteStep is a declarative task's definition: c in dir on the hosts
// sel picks, its failure the task's.
func remoteStep(sel Selector, dir Dir, c shell.Command) stepBuilder {
	return func(_ context.Context, r *Run, seg *segment, t *Task) (*step, error) {
		hosts, err := sel(r)
		if err != nil {
			return nil, fmt.Errorf("selecting the hosts of %s: %w", t.name, err)
		}
		outside := slices.ContainsFunc(hosts, func(h *Host) bool { return !slices.Contains(seg.hosts, h) })
		if outside && seg.fused() {
			// A script runs on the release hosts only: the task runs on
			// its own, on the hosts it selects.
			return nil, errNotHere
		}
		picked := map[*Host]bool{}
		for _, h := range hosts {
			picked[h] = true
		}
		s := &step{
			cmd: func(h *Host) (shell.Command, bool) {
				if !picked[h] {
					return shell.Command{}, false
				}
				if d := dir.of(h); d != "" && c.Dir == "" {
					return c.In(d), true
				}
				return c, true
			},
			done: failure,
		}
		if !seg.fused() {
			s.on = hosts
		}
		// After the lock, in the script that takes it on several hosts: of
		// two runs started together, the one that did not get the first
		// host's lock learns so only once the scripts ran, and a team's
		// command must not have run for it. Each host's script waits for
		// the run's go-ahead before it (segment.decide).
		s.awaits = seg.fused() && len(seg.hosts) > 1 && slices.ContainsFunc(seg.steps, func(s *step) bool { return s.ordered })
		return s, nil
	}
}
