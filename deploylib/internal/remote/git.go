package remote

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// AllowedGitProtocols are the transports git may use (GIT_ALLOW_PROTOCOL),
// so a URL cannot make git run a command through a remote helper.
const AllowedGitProtocols = "file:git:http:https:ssh"

// git returns git with args.
func git(args ...string) shell.Command { return shell.New("git", args...) }

// withGitEnv runs c with no terminal prompts (GIT_TERMINAL_PROMPT=0) and
// only the allowed transports. Host key checking is left to the server's
// ssh configuration: Capstan never turns it off.
func withGitEnv(c shell.Command) shell.Command {
	return c.WithEnv("GIT_TERMINAL_PROMPT", "0").WithEnv("GIT_ALLOW_PROTOCOL", AllowedGitProtocols)
}

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// IsFullSHA reports whether s is a full commit id (SHA-1 or SHA-256).
func IsFullSHA(s string) bool { return fullSHA.MatchString(s) }

// GitCheck lists the remote's refs matching branch (HEAD for a commit id),
// so an empty answer means the branch does not exist.
func GitCheck(repoURL, branch string) shell.Command {
	pattern := branch
	if IsFullSHA(branch) {
		pattern = "HEAD"
	}
	return withGitEnv(git("ls-remote", repoURL, pattern))
}

// GitClone mirrors the repository into repo/ unless the mirror exists;
// depth > 0 makes a shallow mirror.
func (l Layout) GitClone(repoURL string, depth int) shell.Command {
	args := []string{"clone", "--mirror"}
	if depth > 0 {
		args = append(args, "--depth", strconv.Itoa(depth), "--no-single-branch")
	}
	return withGitEnv(shell.New("test", "-f", path.Join(l.Repo(), "HEAD")).
		Or(shown(git(append(args, "--", repoURL, l.Repo())...)))).In(l.DeployTo)
}

// GitUpdate points the mirror at repoURL and fetches (every ref, or with
// depth > 0 only branch, shallowly), then prints the commit id and time of
// branch as its last line (see [ParseResolved]).
func (l Layout) GitUpdate(repoURL, branch string, depth int) shell.Command {
	fetch := git("remote", "update", "--prune")
	if depth > 0 {
		fetch = git("fetch", "--depth", strconv.Itoa(depth), "origin", branch)
	}
	return withGitEnv(git("remote", "set-url", "origin", repoURL).And(shown(fetch)).And(GitResolve(branch))).In(l.Repo())
}

// GitUpdateUnlessListed is [Layout.GitUpdate] for a script in which the
// answer of [GitCheck] is kept in the shell variable listed (a name the
// script sets, never user input): when the mirror's branch resolves to
// the commit the repository listed, and the listing is that one line,
// refs/heads/<branch>, so the branch is nothing else there, the mirror is
// as a fetch would leave it for this deploy and nothing is fetched (no
// second connection to the git server); otherwise it fetches as GitUpdate
// does. Either way it prints the commit id and time of branch as its last
// line ([ParseResolved]). branch must not be a full commit id.
func (l Layout) GitUpdateUnlessListed(repoURL, branch string, depth int, listed string) shell.Command {
	resolved := shell.POSIX("capstan_r=$(" + GitResolve(branch).String() + " 2>/dev/null)")
	// The listing is that one line: the ref, then one character, which
	// git ends every line with (a newline; ? keeps the log on one line).
	isListed := shell.POSIX(`case "$` + listed + `" in "${capstan_r%% *}"` + shell.Quote("\trefs/heads/"+branch) +
		`?) printf '%s\n' "$capstan_r" ;; *) false ;; esac`)
	fetch := git("remote", "update", "--prune")
	if depth > 0 {
		fetch = git("fetch", "--depth", strconv.Itoa(depth), "origin", branch)
	}
	update := git("remote", "set-url", "origin", repoURL).And(shown(fetch)).And(GitResolve(branch))
	return withGitEnv(resolved.And(isListed).Or(update)).In(l.Repo())
}

// GitResolve prints the full commit id and commit time of branch, in the
// repository it runs in.
func GitResolve(branch string) shell.Command {
	return git(GitResolveArgs(branch)...)
}

// GitResolveArgs are the arguments of git that print the full commit id
// and commit time of branch, as [ParseResolved] reads them: the servers'
// mirror runs them through [GitResolve], the Upload strategy's local
// repository directly.
func GitResolveArgs(branch string) []string {
	return []string{"--no-pager", "log", "-1", "--no-walk", "--format=%H %ct", "--end-of-options", branch + "^{commit}", "--"}
}

// ParseResolved reads the output of [GitResolve].
func ParseResolved(out string) (sha string, t int64, err error) {
	f := strings.Fields(out)
	if len(f) != 2 || !IsFullSHA(f[0]) {
		return "", 0, fmt.Errorf("unexpected output from git log: %q", out)
	}
	t, err = strconv.ParseInt(f[1], 10, 64)
	return f[0], t, err
}

// GitArchive unpacks sha (or its subdirectory tree) from the mirror into
// the release directory.
func (l Layout) GitArchive(sha, tree, release string) shell.Command {
	args := []string{"archive", "--format=tar", sha}
	tar := []string{"-x", "-f", "-", "-C", release}
	if tree != "" {
		tree = strings.Trim(path.Clean(tree), "/")
		args = append(args, "--", tree)
		tar = append([]string{"-x", "--strip-components", strconv.Itoa(strings.Count(tree, "/") + 1)}, tar[1:]...)
	}
	archive := git(args...).Pipe(shell.New("tar", tar...))
	return withGitEnv(archive).In(l.Repo()).Shown(archive.String())
}
