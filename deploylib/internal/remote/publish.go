package remote

import (
	"path"
	"slices"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Markers in the output of CheckDirectories.
const (
	MirrorExists       = "mirror-exists"
	CurrentIsDirectory = "current-is-directory"
	MissingPrefix      = "missing "
)

// CheckDirectories creates shared/, releases/, the state directory, the
// linked dirs in shared/ and the parents of the linked files, prints
// CurrentIsDirectory for a current that is a real directory, and prints
// MissingPrefix+<file> for each linked file absent from shared/
// (Capistrano's deploy:check:*). It prints MirrorExists first when repo/
// holds a mirror, which saves git:clone a round trip. Where current points
// is read by the lock command, under the lock.
func (l Layout) CheckDirectories(linkedDirs, linkedFiles []string) shell.Command {
	shared := l.Shared()
	dirs := []string{"-p", shared, l.Releases(), l.Unfinished()}
	seen := map[string]bool{}
	for _, d := range linkedDirs {
		dirs = append(dirs, path.Join(shared, d))
	}
	for _, f := range linkedFiles {
		if p := path.Dir(path.Join(shared, f)); !seen[p] && p != shared {
			seen[p] = true
			dirs = append(dirs, p)
		}
	}
	// A real directory at current would make the switch fail half-way:
	// refuse it before anything changes.
	cmd := shell.New("test", "-d", l.Current()).And(shell.New("test", "!", "-L", l.Current())).
		And(shell.New("echo", CurrentIsDirectory)).
		Then(ensureDirs(dirs[1:]...).Shown(shell.New("mkdir", dirs...).String()))
	for _, f := range linkedFiles {
		cmd = cmd.And(shell.New("test", "-f", path.Join(shared, f)).Or(shell.New("echo", "missing", f)).Or(shell.New("true")))
	}
	return shell.New("test", "-f", path.Join(l.Repo(), "HEAD")).And(shell.New("echo", MirrorExists)).Or(shell.New("true")).
		Then(cmd)
}

// PreviousRevision prints where current points, then the revision of the
// current release, one per line (empty lines when missing).
func (l Layout) PreviousRevision() shell.Command {
	return shell.New("readlink", l.Current()).Quiet().Or(shell.New("echo")).
		Then(shell.New("cat", path.Join(l.Current(), "REVISION")).Quiet()).
		Then(shell.New("true"))
}

// Link links each name under the release directory to the same name under
// shared/, replacing whatever the release holds there, after creating
// parents. It never acts through a symlink inside the release: a directory
// on the way to a linked path that is a symlink (committed in the
// repository, or a linked dir) is refused before anything changes, since
// removing or creating through it would reach outside the release.
func (l Layout) Link(release string, names []string) shell.Command {
	var ancestors, parents []string
	seen := map[string]bool{}
	for _, n := range names {
		p := path.Dir(path.Join(release, n))
		if p != release && !seen[p] {
			parents = append(parents, p)
		}
		for ; p != release && !seen[p]; p = path.Dir(p) {
			seen[p] = true
			ancestors = append(ancestors, p)
		}
	}
	slices.Sort(ancestors)
	var cmd shell.Command
	add := func(c shell.Command) {
		if cmd.IsZero() {
			cmd = c
		} else {
			cmd = cmd.And(c)
		}
	}
	for _, a := range ancestors {
		add(shell.New("test", "!", "-L", a).Or(
			shell.New("echo", "refusing to link inside "+a+": it is a symbolic link in the release, and linking through it would change files outside the release").ToStderr().And(shell.New("false"))))
	}
	if len(parents) > 0 {
		add(ensureDirs(parents...))
	}
	for _, n := range names {
		target := path.Join(release, n)
		link := shell.New("ln", "-s", path.Join(l.Shared(), n), target)
		add(removeIfPresent(target).And(link).Shown(link.String()))
	}
	return cmd
}

// Switch points current at release with a rename(2) over the old link,
// after checking that release is a real directory (never current itself):
// the new link is made under a directory unique to the run and moved into
// deploy_to, so a leftover link cannot publish an old release (the empty
// directory stays for [Layout.ReleaseLock]). A current
// that is a real directory is refused. The release's unfinished marker is
// removed in the same command, when release is one of releases/ with a
// release name: the release a switch back goes to is where current
// pointed, read from the server, and may be anything.
func (l Layout) Switch(release, runID string) shell.Command {
	current, tmp := l.Current(), l.switchDir(runID)
	cmd := shell.New("test", "!", "-d", current).
		Or(shell.New("test", "-L", current)).
		Or(shell.New("echo", "refusing to replace "+current+": it is a directory, not a symlink").ToStderr().And(shell.New("false"))).
		And(shell.New("test", "-d", release).And(shell.New("test", "!", "-L", release)).
			Or(shell.New("echo", "refusing to point current at "+release+": it is not a release directory").ToStderr().And(shell.New("false")))).
		And(removeIfPresent(tmp)).
		And(shell.New("mkdir", "-p", tmp)).
		And(shell.New("ln", "-s", release, path.Join(tmp, "current")).Shown(shell.New("ln", "-s", release, current).String())).
		And(shell.New("mv", path.Join(tmp, "current"), l.DeployTo))
	if name := path.Base(release); IsReleaseName(name) && path.Clean(release) == l.Release(name) {
		cmd = cmd.And(shell.New("rm", "-f", l.UnfinishedMarker(name)))
	}
	return cmd
}

// RemoveCurrent removes current (publishing failed on a host that had no
// release before).
func (l Layout) RemoveCurrent() shell.Command { return shell.New("rm", "-f", "--", l.Current()) }
