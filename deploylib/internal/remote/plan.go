package remote

import (
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// What the planned deploy (deploylib's plan.go) needs beyond the commands
// of the tasks run one by one: a revision pinned before the mirror is
// fetched, and the state cleanup works on, read under the lock.

// PinRevision returns the commit that git would resolve branch to in a
// mirror of the repository whose `git ls-remote <url> <branch>` printed
// lsRemote, as [GitCheck] runs it; ok is false when it cannot tell (the
// branch is not among the refs listed, or is a name such as FETCH_HEAD
// that a mirror resolves by a file of its own), and the caller then
// resolves it in the mirror after fetching, as before. A full commit id
// pins itself. The order is git's (gitrevisions(7)): refs/<name>,
// refs/tags/<name>, refs/heads/<name>, refs/remotes/<name>,
// refs/remotes/<name>/HEAD; an annotated tag pins the commit it points at.
func PinRevision(lsRemote, branch string) (sha string, ok bool) {
	if IsFullSHA(branch) {
		return branch, true
	}
	refs, peeled := map[string]string{}, map[string]string{}
	for _, line := range strings.Split(lsRemote, "\n") {
		id, ref, found := strings.Cut(strings.TrimSpace(line), "\t")
		if !found || !IsFullSHA(id) {
			continue
		}
		if base, isPeeled := strings.CutSuffix(ref, "^{}"); isPeeled {
			peeled[base] = id
		} else {
			refs[ref] = id
		}
	}
	var candidates []string
	switch {
	case branch == "HEAD":
		candidates = []string{"HEAD"}
	case strings.HasPrefix(branch, "refs/"):
		candidates = []string{branch}
	case !strings.Contains(branch, "/") && strings.Trim(branch, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == "":
		return "", false // a pseudo-ref (FETCH_HEAD, ORIG_HEAD): the mirror's own
	default:
		candidates = []string{"refs/" + branch, "refs/tags/" + branch, "refs/heads/" + branch,
			"refs/remotes/" + branch, "refs/remotes/" + branch + "/HEAD"}
	}
	for _, c := range candidates {
		if id, found := peeled[c]; found {
			return id, true
		}
		if id, found := refs[c]; found {
			return id, true
		}
	}
	return "", false
}

// MirrorAtPrefix starts the line of [Layout.MirrorAt].
const MirrorAtPrefix = "mirror-at "

// MirrorAt prints MirrorAtPrefix and the commit branch resolves to in the
// mirror as it is, before any fetch, or nothing when there is no mirror or
// it does not know branch; it always succeeds. A host whose mirror is at
// the pinned revision already fetches nothing, so it needs no turn among
// the hosts that fetch (Git.MaxConcurrent).
func (l Layout) MirrorAt(branch string) shell.Command {
	return git("-C", l.Repo(), "--no-pager", "log", "-1", "--no-walk", "--format="+MirrorAtPrefix+"%H",
		"--end-of-options", branch+"^{commit}", "--").Quiet().Or(shell.New("true"))
}

// GitUpdatePinned is [Layout.GitUpdate] for a revision pinned already
// ([PinRevision]): it points the mirror at repoURL, fetches only when the
// mirror lacks commit sha, and prints the commit id and time of sha as its
// last line (see [ParseResolved]).
func (l Layout) GitUpdatePinned(repoURL, branch, sha string, depth int) shell.Command {
	fetch := git("remote", "update", "--prune")
	if depth > 0 {
		fetch = git("fetch", "--depth", strconv.Itoa(depth), "origin", branch)
	}
	has := git("cat-file", "-e", sha+"^{commit}").Quiet()
	return withGitEnv(git("remote", "set-url", "origin", repoURL).
		And(shown(has.Or(fetch))).
		And(GitResolve(sha))).In(l.Repo())
}

// WriteRevisionFromMirror writes REVISION (sha) and REVISION_TIME (its
// commit time, read from the mirror) into the release directory: for a
// release created in the same script as the fetch, before the run has
// read the commit time.
func (l Layout) WriteRevisionFromMirror(release, sha string) shell.Command {
	commitTime := withGitEnv(git("--no-pager", "log", "-1", "--no-walk", "--format=%ct", "--end-of-options", sha+"^{commit}", "--").
		WriteTo(path.Join(release, "REVISION_TIME"))).In(l.Repo())
	return shell.New("echo", sha).WriteTo(path.Join(release, "REVISION")).And(commitTime)
}

// WriteRevisionOfRef writes REVISION and REVISION_TIME into the release
// directory: the commit id and commit time of ref, as the mirror resolves
// it. It is for a release archived from ref in the same script that
// fetched, before any commit was pinned ([Layout.GitArchive] of ref); the
// mirror does not change in between, since only the lock's holder fetches.
func (l Layout) WriteRevisionOfRef(release, ref string) shell.Command {
	// One git log prints both; the shell's read splits them.
	read := shell.POSIX(`{ read -r capstan_h && read -r capstan_t && printf '%s\n' "$capstan_h" >` +
		shell.Quote(path.Join(release, "REVISION")) + ` && printf '%s\n' "$capstan_t" >` +
		shell.Quote(path.Join(release, "REVISION_TIME")) + `; }`)
	return withGitEnv(git("--no-pager", "log", "-1", "--no-walk", "--format=%H%n%ct", "--end-of-options", ref+"^{commit}", "--").
		Pipe(read)).In(l.Repo())
}

// LockTakenInfo is what [Layout.TakeLock] printed after LockTaken.
type LockTakenInfo struct {
	// Previous is where current pointed, "" when nowhere.
	Previous string
	// Releases are the release names in releases/, sorted.
	Releases []string
	// Unfinished are the unfinished markers that name releases.
	Unfinished []string
	// Listed says the answer had the unfinished markers: an answer
	// without them (a backend that answers less) leaves cleanup to list
	// the releases itself.
	Listed bool
}

// ParseLockTaken reads the lines that follow LockTaken in the answer of
// [Layout.TakeLock].
func ParseLockTaken(out string) LockTakenInfo {
	out = strings.TrimPrefix(out, "\n")
	previous, rest, _ := strings.Cut(out, "\n")
	info := LockTakenInfo{Previous: strings.TrimSpace(previous)}
	releases, unfinished, listed := strings.Cut(rest, LockUnfinished)
	info.Listed = listed
	for _, f := range strings.Fields(releases) {
		if IsReleaseName(f) {
			info.Releases = append(info.Releases, f)
		}
	}
	slices.Sort(info.Releases)
	for _, f := range strings.Fields(unfinished) {
		if IsReleaseName(f) {
			info.Unfinished = append(info.Unfinished, f)
		}
	}
	return info
}

// LockListing returns info as a [Listing], as [Layout.ParseListing] would
// have read it at the same moment (without Complete, which cleanup does
// not use).
func (l Layout) LockListing(info LockTakenInfo) Listing {
	li := Listing{Releases: slices.Clone(info.Releases), Unfinished: map[string]bool{}, Complete: map[string]bool{}, CurrentRaw: info.Previous}
	for _, u := range info.Unfinished {
		li.Unfinished[u] = true
	}
	if rel := info.Previous; rel != "" {
		if !path.IsAbs(rel) {
			rel = path.Join(l.DeployTo, rel)
		}
		if path.Dir(path.Clean(rel)) == l.Releases() {
			li.Current = path.Base(rel)
		}
	}
	return li
}

// Published returns li as it is once release name is published: listed,
// finished and current.
func (li Listing) Published(name string) Listing {
	out := Listing{Releases: slices.Clone(li.Releases), Unfinished: map[string]bool{}, Complete: li.Complete,
		Current: name, CurrentRaw: name}
	if !slices.Contains(out.Releases, name) {
		out.Releases = append(out.Releases, name)
		slices.Sort(out.Releases)
	}
	for u := range li.Unfinished {
		if u != name {
			out.Unfinished[u] = true
		}
	}
	return out
}

// NotCurrent fails, saying so, when current points at one of the named
// releases: cleanup computed from an earlier listing refuses to remove
// the live release, whatever happened since.
func (l Layout) NotCurrent(names []string) shell.Command {
	var cmd shell.Command
	for _, n := range names {
		c := shell.New("test", "!", l.Release(n), "-ef", l.Current()).
			Or(shell.New("echo", "refusing to remove "+l.Release(n)+": current points at it").ToStderr().And(shell.New("false")))
		if cmd.IsZero() {
			cmd = c
		} else {
			cmd = cmd.And(c)
		}
	}
	return cmd
}
