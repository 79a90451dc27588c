package deploylib

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Builders of the standard remote commands. They are pure: each returns a
// shell.Command and does no I/O, so tests check them as strings.

// listMarker separates the sections of listReleasesCmd's output.
const listMarker = "--capstan--"

// listReleasesCmd prints releases/, then the unfinished markers, then
// where current points, separated by listMarker lines. Missing pieces print
// nothing; the command always succeeds.
func listReleasesCmd(deployTo string) shell.Command {
	releases := path.Join(deployTo, "releases")
	return shell.New("ls", "-1", releases).Quiet().
		Then(shell.New("echo", listMarker)).
		Then(shell.New("ls", "-1", unfinishedDir(deployTo)).Quiet()).
		Then(shell.New("echo", listMarker)).
		Then(shell.New("readlink", path.Join(deployTo, "current")).Quiet()).
		Then(shell.New("echo", listMarker)).
		// Real directories (find does not follow symlinks) holding a
		// REVISION file: the only possible rollback targets.
		Then(shell.New("find", releases, "-mindepth", "2", "-maxdepth", "2", "-type", "f", "-name", "REVISION").Quiet()).
		Then(shell.New("true"))
}

// parseListing reads listReleasesCmd's output.
func parseListing(out, deployTo string) (releaseListing, error) {
	parts := strings.Split(out, listMarker)
	if len(parts) != 4 {
		return releaseListing{}, fmt.Errorf("unexpected release listing %q", out)
	}
	l := releaseListing{unfinished: map[string]bool{}, complete: map[string]bool{}}
	for _, f := range strings.Split(parts[3], "\n") {
		if name := path.Base(path.Dir(strings.TrimSpace(f))); IsReleaseName(name) {
			l.complete[name] = true
		}
	}
	for _, f := range strings.Fields(parts[0]) {
		if IsReleaseName(f) {
			l.releases = append(l.releases, f)
		}
	}
	for _, f := range strings.Fields(parts[1]) {
		if IsReleaseName(f) {
			l.unfinished[f] = true
		}
	}
	l.currentRaw = strings.TrimSpace(parts[2])
	if l.currentRaw != "" {
		rel := l.currentRaw
		if !path.IsAbs(rel) {
			rel = path.Join(deployTo, rel)
		}
		if path.Dir(path.Clean(rel)) == path.Join(deployTo, "releases") {
			l.current = path.Base(rel)
		}
	}
	return l, nil
}

// checkDirectoriesCmd creates shared/, releases/, the state directory,
// the linked dirs in shared/ and the parents of the linked files, refuses
// a current that is a real directory, and prints "missing <file>" for each
// linked file absent from shared/ (Capistrano's deploy:check:*). Printing
// "mirror-exists" when repo/ holds a mirror saves git:clone a round trip.
// Where current points is read by the lock command, under the lock.
func checkDirectoriesCmd(deployTo string, linkedDirs, linkedFiles []string) shell.Command {
	return shell.New("test", "-f", path.Join(deployTo, "repo", "HEAD")).And(shell.New("echo", "mirror-exists")).Or(shell.New("true")).
		Then(prepareDirectoriesCmd(deployTo, linkedDirs, linkedFiles))
}

func prepareDirectoriesCmd(deployTo string, linkedDirs, linkedFiles []string) shell.Command {
	shared := path.Join(deployTo, "shared")
	current := path.Join(deployTo, "current")
	dirs := []string{"-p", shared, path.Join(deployTo, "releases"), unfinishedDir(deployTo)}
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
	cmd := shell.New("test", "-d", current).And(shell.New("test", "!", "-L", current)).
		And(shell.New("echo", "current-is-directory")).
		Then(shell.New("mkdir", dirs...))
	for _, f := range linkedFiles {
		cmd = cmd.And(shell.New("test", "-f", path.Join(shared, f)).Or(shell.New("echo", "missing", f)).Or(shell.New("true")))
	}
	return cmd
}

// previousRevisionCmd prints where current points, then the revision of
// the current release, one per line (empty lines when missing).
func previousRevisionCmd(deployTo string) shell.Command {
	current := path.Join(deployTo, "current")
	return shell.New("readlink", current).Quiet().Or(shell.New("echo")).
		Then(shell.New("cat", path.Join(current, "REVISION")).Quiet()).
		Then(shell.New("true"))
}

// writeRevisionCmd writes REVISION and REVISION_TIME into the release.
func writeRevisionCmd(release string, rev Revision) shell.Command {
	return shell.New("echo", rev.Recorded()).WriteTo(path.Join(release, "REVISION")).
		And(shell.New("echo", fmt.Sprint(rev.Time)).WriteTo(path.Join(release, "REVISION_TIME")))
}

// linkCmd links each name under release to the same name under shared,
// replacing whatever the release holds there, after creating parents. It
// never acts through a symlink inside the release: a directory on the way
// to a linked path that is a symlink (committed in the repository, or a
// linked dir) is refused before anything changes, since removing or
// creating through it would reach outside the release.
func linkCmd(release, shared string, names []string) shell.Command {
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
		add(shell.New("mkdir", append([]string{"-p"}, parents...)...))
	}
	for _, n := range names {
		target := path.Join(release, n)
		add(shell.New("rm", "-rf", target).And(shell.New("ln", "-s", path.Join(shared, n), target)))
	}
	return cmd
}

// switchCmd points current at release with a rename(2) over the old link,
// after checking that release is a real directory (never current itself):
// the new link is made under a directory unique to the run and moved into
// deploy_to, so a leftover link cannot publish an old release. A current
// that is a real directory is refused. The release's unfinished marker is
// removed in the same command.
func switchCmd(deployTo, release, runID string) shell.Command {
	current := path.Join(deployTo, "current")
	tmp := path.Join(stateDir(deployTo), "switch-"+runID)
	return shell.New("test", "!", "-d", current).
		Or(shell.New("test", "-L", current)).
		Or(shell.New("echo", "refusing to replace "+current+": it is a directory, not a symlink").ToStderr().And(shell.New("false"))).
		And(shell.New("test", "-d", release).And(shell.New("test", "!", "-L", release)).
			Or(shell.New("echo", "refusing to point current at "+release+": it is not a release directory").ToStderr().And(shell.New("false")))).
		And(shell.New("rm", "-rf", tmp)).
		And(shell.New("mkdir", "-p", tmp)).
		And(shell.New("ln", "-s", release, path.Join(tmp, "current"))).
		And(shell.New("mv", path.Join(tmp, "current"), deployTo)).
		And(shell.New("rmdir", tmp)).
		And(shell.New("rm", "-f", path.Join(unfinishedDir(deployTo), path.Base(release))))
}

// scratchCleanupCmd removes what runID may have left in the state
// directory: the switch directories (switchCmd) and the lock it was
// building. Every name holds the run id, so no other run's is touched.
func scratchCleanupCmd(deployTo, runID string) shell.Command {
	state := stateDir(deployTo)
	return shell.New("rm", "-rf", "--", path.Join(state, "switch-"+runID), path.Join(state, "switch-"+runID+"-back"), lockAside(deployTo, "new", runID))
}

// removeReleasesCmd removes the named releases and their markers in one
// command. Names are checked to be release names, so nothing else under
// deploy_to can be removed.
func removeReleasesCmd(deployTo string, names []string) (shell.Command, error) {
	var markers, dirs []string
	for _, n := range names {
		if !IsReleaseName(n) {
			return shell.Command{}, fmt.Errorf("refusing to remove %q: not a release name", n)
		}
		markers = append(markers, path.Join(unfinishedDir(deployTo), n))
		dirs = append(dirs, path.Join(deployTo, "releases", n))
	}
	// Mark the releases unfinished first: a removal cut short leaves
	// releases that cleanup removes again and rollback never targets.
	return shell.New("mkdir", "-p", unfinishedDir(deployTo)).
		And(shell.New("touch", markers...)).
		And(shell.New("rm", append(append([]string{"-rf"}, dirs...), markers...)...)), nil
}

// removeOwnReleaseCmd removes release name and its marker when the
// marker says runID made it.
func removeOwnReleaseCmd(deployTo, name, runID string) shell.Command {
	marker := path.Join(unfinishedDir(deployTo), name)
	return shell.New("grep", "-qxF", "--", runID, marker).Quiet().
		And(shell.New("rm", "-rf", path.Join(deployTo, "releases", name), marker)).
		Or(shell.New("true"))
}

// logLineCmd appends line to revisions.log (Capistrano runs it from
// releases/). A log whose last line was cut short (a full disk, a crash)
// gets a newline first, so the new line stays whole.
func logLineCmd(deployTo, line string) shell.Command {
	log := path.Join(deployTo, "revisions.log")
	return shell.New("tail", "-c", "1", log).Quiet().Pipe(shell.New("grep", "-q", ".")).And(shell.New("echo").AppendTo(log)).
		Then(shell.New("echo", line).AppendTo(log)).
		In(path.Join(deployTo, "releases"))
}

// markUnfinishedCmd marks release name unfinished, made by runID (as
// createReleaseCmd does), so that deploy:failed and cleanup treat it as
// never published.
func markUnfinishedCmd(deployTo, name, runID string) shell.Command {
	return shell.New("mkdir", "-p", unfinishedDir(deployTo)).
		And(shell.New("echo", runID).WriteTo(path.Join(unfinishedDir(deployTo), name)))
}

// deployLogLine is Capistrano's revisions.log line for a deploy.
func deployLogLine(branch, sha, release, user string) string {
	return fmt.Sprintf("Branch %s (at %s) deployed as release %s by %s", branch, sha, release, user)
}

// rollbackLogLine is Capistrano's revisions.log line for a rollback.
func rollbackLogLine(user, release string) string {
	return fmt.Sprintf("%s rolled back to release %s", user, release)
}

// archiveReleaseCmd archives a release rolled away from as
// rolled-back-release-<name>.tar.gz in deploy_to and removes it.
func archiveReleaseCmd(deployTo, name string) shell.Command {
	return shell.New("tar", "-czf", path.Join(deployTo, "rolled-back-release-"+name+".tar.gz"), "-C", path.Join(deployTo, "releases"), name).
		And(shell.New("rm", "-rf", path.Join(deployTo, "releases", name)))
}
