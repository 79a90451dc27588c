package remote

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// listMarker separates the sections of ListReleases' output.
const listMarker = "--capstan--"

// ListReleases prints releases/, then the unfinished markers, then where
// current points, then the REVISION files of real release directories,
// separated by listMarker lines. Missing pieces print nothing; the command
// always succeeds. [Layout.ParseListing] reads its output.
func (l Layout) ListReleases() shell.Command {
	return shell.New("ls", "-1", l.Releases()).Quiet().
		Then(shell.New("echo", listMarker)).
		Then(shell.New("ls", "-1", l.Unfinished()).Quiet()).
		Then(shell.New("echo", listMarker)).
		Then(shell.New("readlink", l.Current()).Quiet()).
		Then(shell.New("echo", listMarker)).
		// Real directories (find does not follow symlinks) holding a
		// REVISION file: the only possible rollback targets.
		Then(shell.New("find", l.Releases(), "-mindepth", "2", "-maxdepth", "2", "-type", "f", "-name", "REVISION").Quiet()).
		Then(shell.New("true"))
}

// Listing is what a host reports about its releases.
type Listing struct {
	Releases   []string        // 14-digit names, sorted by name, oldest first
	Unfinished map[string]bool // releases never published
	Complete   map[string]bool // real directories holding a REVISION file
	Current    string          // name of the release current points at, "" if none
	CurrentRaw string          // what readlink printed
}

// ParseListing reads the output of [Layout.ListReleases].
func (l Layout) ParseListing(out string) (Listing, error) {
	parts := strings.Split(out, listMarker)
	if len(parts) != 4 {
		return Listing{}, fmt.Errorf("unexpected release listing %q", out)
	}
	li := Listing{Unfinished: map[string]bool{}, Complete: map[string]bool{}}
	for _, f := range strings.Split(parts[3], "\n") {
		if name := path.Base(path.Dir(strings.TrimSpace(f))); IsReleaseName(name) {
			li.Complete[name] = true
		}
	}
	for _, f := range strings.Fields(parts[0]) {
		if IsReleaseName(f) {
			li.Releases = append(li.Releases, f)
		}
	}
	sort.Strings(li.Releases)
	for _, f := range strings.Fields(parts[1]) {
		if IsReleaseName(f) {
			li.Unfinished[f] = true
		}
	}
	li.CurrentRaw = strings.TrimSpace(parts[2])
	if li.CurrentRaw != "" {
		rel := li.CurrentRaw
		if !path.IsAbs(rel) {
			rel = path.Join(l.DeployTo, rel)
		}
		if path.Dir(path.Clean(rel)) == l.Releases() {
			li.Current = path.Base(rel)
		}
	}
	return li, nil
}

// Finished returns the finished releases, oldest first.
func (li Listing) Finished() []string {
	var out []string
	for _, r := range li.Releases {
		if !li.Unfinished[r] {
			out = append(out, r)
		}
	}
	return out
}

// CleanupCandidates returns the releases deploy:cleanup removes: every
// unfinished release except skip (the run's own), then the oldest finished
// ones beyond keep; never current.
func (li Listing) CleanupCandidates(keep int, skip string) []string {
	var out []string
	for _, r := range li.Releases {
		if li.Unfinished[r] && r != li.Current && r != skip {
			out = append(out, r)
		}
	}
	fin := li.Finished()
	if len(fin) > keep {
		for _, r := range fin[:len(fin)-keep] {
			if r != li.Current {
				out = append(out, r)
			}
		}
	}
	sort.Strings(out)
	return out
}

// CreateRelease marks release name unfinished with the run id, then makes
// its directory (refusing one that exists) and unpacks source into it. The
// marker comes first, and whole ([Layout.writeMarker]), so a run killed at
// any point leaves nothing that looks like a finished release, and no
// marker deploy:failed cannot tell as the run's.
func (l Layout) CreateRelease(name, runID string, source shell.Command) shell.Command {
	release := l.Release(name)
	return shell.New("test", "!", "-e", release).
		Or(shell.New("echo", "release "+release+" already exists").ToStderr().And(shell.New("false"))).
		And(l.writeMarker(name, runID)).
		And(shown(shell.New("mkdir", release))).
		And(source)
}

// WriteRevision writes REVISION (revision, as recorded) and REVISION_TIME
// (unix seconds) into the release directory.
func WriteRevision(release, revision string, unixTime int64) shell.Command {
	return shell.New("echo", revision).WriteTo(path.Join(release, "REVISION")).
		And(shell.New("echo", strconv.FormatInt(unixTime, 10)).WriteTo(path.Join(release, "REVISION_TIME")))
}

// MarkUnfinished marks release name unfinished, made by runID, so that
// deploy:failed and cleanup treat it as never published.
func (l Layout) MarkUnfinished(name, runID string) shell.Command {
	return l.writeMarker(name, runID)
}

// writeMarker writes runID into the unfinished marker of release name,
// whole or not at all: into a file of runID's scratch directory
// ([Layout.ReleaseLock] removes it), then renamed over the marker. A
// shell that dies between creating a file and writing into it (a signal,
// as an interrupted run stops its commands; a full disk) would otherwise
// leave an empty marker, which is a removal's ([Layout.RemoveReleases])
// and which deploy:failed does not recognise as its run's
// ([Layout.RemoveOwnRelease]): the release, or the marker alone, stayed.
func (l Layout) writeMarker(name, runID string) shell.Command {
	tmp := path.Join(l.markDir(runID), name)
	return shell.New("mkdir", "-p", l.Unfinished(), l.markDir(runID)).
		And(shell.New("echo", runID).WriteTo(tmp)).
		And(shell.New("mv", "-f", tmp, l.UnfinishedMarker(name)))
}

// RemoveReleases removes the named releases and their markers in one
// command. Names are checked to be release names, so nothing else under
// deploy_to can be removed.
func (l Layout) RemoveReleases(names []string) (shell.Command, error) {
	var markers, dirs []string
	for _, n := range names {
		if !IsReleaseName(n) {
			return shell.Command{}, fmt.Errorf("refusing to remove %q: not a release name", n)
		}
		markers = append(markers, l.UnfinishedMarker(n))
		dirs = append(dirs, l.Release(n))
	}
	// Mark the releases unfinished first: a removal cut short leaves
	// releases that cleanup removes again and rollback never targets. A
	// marker goes only once its release is really gone: when rm -rf
	// fails on part of one (a file it may not remove), the markers of
	// the releases that are gone go, the others stay, and the command
	// fails.
	var partly shell.Command
	for i, d := range dirs {
		c := shell.New("test", "-e", d).Or(shell.New("test", "-L", d)).Or(shell.New("rm", "-f", markers[i]))
		if partly.IsZero() {
			partly = c
		} else {
			partly = partly.Then(c)
		}
	}
	remove := shown(shell.New("rm", append([]string{"-rf"}, dirs...)...)).
		And(shell.New("rm", append([]string{"-f"}, markers...)...))
	return shell.New("mkdir", "-p", l.Unfinished()).
		And(shell.New("touch", markers...)).
		And(remove.Or(partly.Then(shell.New("false")))), nil
}

// RemoveOwnRelease removes release name and its marker when the marker
// says runID made it, and never the release current points at. The
// marker goes only once the release is gone: a release rm -rf could not
// remove whole stays unfinished.
func (l Layout) RemoveOwnRelease(name, runID string) shell.Command {
	marker := l.UnfinishedMarker(name)
	return shell.New("test", "!", l.Release(name), "-ef", l.Current()).
		And(HasLine(marker, runID).
			And(shown(shell.New("rm", "-rf", l.Release(name)))).
			And(shell.New("rm", "-f", marker)).
			Or(shell.New("true"))).
		Or(shell.New("true"))
}

// ArchiveRelease archives a release rolled away from as
// rolled-back-release-<name>.tar.gz in deploy_to and removes it. Only
// release names are ever archived and removed. As in RemoveReleases, the
// release is marked unfinished before rm -rf and the marker goes only once
// the release is gone, so a removal cut short (a signal, a file rm may not
// remove) leaves a release that cleanup removes again and rollback never
// targets.
func (l Layout) ArchiveRelease(name string) (shell.Command, error) {
	if !IsReleaseName(name) {
		return shell.Command{}, fmt.Errorf("refusing to archive and remove %q: not a release name", name)
	}
	marker := l.UnfinishedMarker(name)
	return shown(shell.New("tar", "-czf", path.Join(l.DeployTo, "rolled-back-release-"+name+".tar.gz"), "-C", l.Releases(), name)).
		And(shell.New("mkdir", "-p", l.Unfinished())).
		And(shell.New("touch", marker)).
		And(shown(shell.New("rm", "-rf", l.Release(name)))).
		And(shell.New("rm", "-f", marker)), nil
}

// reportMarker separates the sections that ReleasesReport adds to
// ListReleases' output.
const reportMarker = "--capstan-report--"

// ReleasesReport lists, in one command, the releases, the unfinished
// markers, where current points, every release's REVISION and
// REVISION_TIME, and the end of revisions.log. It always succeeds.
func (l Layout) ReleasesReport() shell.Command {
	return l.ListReleases().
		Then(shell.New("echo", reportMarker)).
		Then(shell.New("find", l.Releases(), "-mindepth", "2", "-maxdepth", "2",
			"(", "-name", "REVISION", "-o", "-name", "REVISION_TIME", ")",
			"-exec", "grep", "-H", "", "{}", "+").Quiet()).
		Then(shell.New("echo", reportMarker)).
		Then(shell.New("tail", "-n", "1000", l.RevisionsLog()).Quiet()).
		Then(shell.New("true"))
}

// Report is what [Layout.ReleasesReport] printed.
type Report struct {
	Listing
	// Revision is each release's REVISION.
	Revision map[string]string
	// LogTail is the end of revisions.log.
	LogTail string
}

// ParseReleasesReport reads the output of [Layout.ReleasesReport].
func (l Layout) ParseReleasesReport(out string) (Report, error) {
	sections := strings.Split(out, reportMarker+"\n")
	if len(sections) != 3 {
		return Report{}, fmt.Errorf("unexpected answer to the releases listing: %q", out)
	}
	li, err := l.ParseListing(sections[0])
	if err != nil {
		return Report{}, err
	}
	rep := Report{Listing: li, Revision: map[string]string{}, LogTail: sections[2]}
	prefix := l.Releases() + "/"
	for _, line := range strings.Split(sections[1], "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		name, rest, _ := strings.Cut(rest, "/")
		if value, ok := strings.CutPrefix(rest, "REVISION:"); ok && IsReleaseName(name) {
			rep.Revision[name] = strings.TrimSpace(value)
		}
	}
	return rep, nil
}

// ReleaseNameTaken is the line [Layout.CheckReleaseName] prints when the
// name it checks is not free.
const ReleaseNameTaken = "capstan-release-name-taken"

// CheckReleaseName prints ReleaseNameTaken when releases/ holds a release
// named name or one that sorts after it, so that a release named name
// would not be the newest there; it prints nothing otherwise, and always
// succeeds. It lets a release named before the releases were listed (from
// this machine's clock, in the script that takes the lock) be checked
// where it is built: a host whose clock, or whose last deployer's clock,
// was ahead stops there. name must be a release name (14 digits). The
// names are matched by the shell itself (a for loop over releases/* and a
// case), so the check starts no process.
func (l Layout) CheckReleaseName(name string) (shell.Command, error) {
	patterns, err := namesFrom(name)
	if err != nil {
		return shell.Command{}, err
	}
	return shell.POSIX("for capstan_f in " + shell.Quote(l.Releases()) + `/*; do case "${capstan_f##*/}" in ` +
		strings.Join(patterns, "|") + ") echo " + ReleaseNameTaken + "; break;; esac; done; true"), nil
}

// namesFrom returns the shell patterns (case, glob) that together match
// exactly the release names (14 digits) that are equal to name or sort
// after it: name itself, or name's first i digits followed by a greater
// digit and any digits. The patterns are digits and bracket expressions
// only, safe unquoted.
func namesFrom(name string) ([]string, error) {
	if !IsReleaseName(name) {
		return nil, fmt.Errorf("%q is not a release name", name)
	}
	patterns := []string{name}
	for i := len(name) - 1; i >= 0; i-- {
		if d := name[i]; d < '9' {
			patterns = append(patterns, name[:i]+"["+string(d+1)+"-9]"+strings.Repeat("[0-9]", len(name)-i-1))
		}
	}
	return patterns, nil
}
