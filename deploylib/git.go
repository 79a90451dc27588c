package deploylib

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Git is Capistrano's git strategy: a mirror of the repository in
// <deploy_to>/repo on every server, updated each deploy, from which the
// revision is archived into the release. The branch is resolved to one
// commit once per run and every server archives that commit.
type Git struct {
	// ShallowClone, when positive, clones and fetches only this many
	// commits of history (Capistrano's git_shallow_clone).
	ShallowClone int
	// MaxConcurrent caps how many servers clone or fetch at once, so a
	// large fleet does not overwhelm the git server. Default 10
	// (Capistrano's git_max_concurrent_connections).
	MaxConcurrent int
}

func gitOf(r *Run) Git {
	switch s := r.Config.Strategy.(type) {
	case Git:
		return s
	case *Git:
		return *s
	}
	return Git{}
}

// fetchLimit returns the On option capping concurrent clones and fetches.
func (g Git) fetchLimit() OnOption {
	n := g.MaxConcurrent
	if n <= 0 {
		n = 10
	}
	return InGroups(n, 0)
}

// CheckTask implements [Strategy].
func (Git) CheckTask() *Task { return GitCheck }

// CreateReleaseTask implements [Strategy].
func (Git) CreateReleaseTask() *Task { return GitCreateRelease }

// Validate implements [Strategy].
func (g Git) Validate(c Config) error {
	if g.ShallowClone < 0 || g.MaxConcurrent < 0 {
		return fmt.Errorf("config: Git{ShallowClone: %d, MaxConcurrent: %d}: values must not be negative", g.ShallowClone, g.MaxConcurrent)
	}
	if strings.TrimSpace(c.RepoURL) == "" {
		return fmt.Errorf("config: RepoURL is empty; the git strategy needs the repository to clone on the servers")
	}
	return validateRepoURL(c.RepoURL)
}

// validateRepoURL rejects repository URLs that git would read as an
// option or that run commands (ext:: and fd:: transports).
func validateRepoURL(u string) error {
	switch {
	case strings.HasPrefix(u, "-"):
		return fmt.Errorf("config: RepoURL %q starts with - and would be read as a git option", u)
	case strings.ContainsAny(u, "\n\r\x00"):
		return fmt.Errorf("config: RepoURL %q contains a control character", u)
	case strings.HasPrefix(u, "ext::") || strings.HasPrefix(u, "fd::") || strings.Contains(u, "::"):
		return fmt.Errorf("config: RepoURL %q uses a git remote helper transport (ext::, fd::), which can run commands; use ssh://, https:// or a path", u)
	}
	return nil
}

// allowedProtocols is exported to every git command as GIT_ALLOW_PROTOCOL,
// so a URL cannot make git run a command through a remote helper.
const allowedProtocols = "file:git:http:https:ssh"

// gitCmd returns git with args, run with no terminal prompts and only the
// safe transports. Host key checking is left to the server's ssh
// configuration: Capstan never turns it off.
func gitCmd(args ...string) shell.Command {
	return shell.New("git", args...)
}

// withGitEnv exports the git safety settings around c.
func withGitEnv(c shell.Command) shell.Command {
	return c.WithEnv("GIT_TERMINAL_PROMPT", "0").WithEnv("GIT_ALLOW_PROTOCOL", allowedProtocols)
}

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// gitCheckCmd lists the remote's refs matching branch (HEAD for a commit
// id), so an empty answer means the branch does not exist.
func gitCheckCmd(repoURL, branch string) shell.Command {
	pattern := branch
	if fullSHA.MatchString(branch) {
		pattern = "HEAD"
	}
	return withGitEnv(gitCmd("ls-remote", repoURL, pattern))
}

func gitCheck(ctx context.Context) error {
	r := CurrentRun(ctx)
	cmd := gitCheckCmd(r.Config.RepoURL, r.Config.Branch)
	return On(ctx, ReleaseRoles(), func(ctx context.Context, h *Host) error {
		out, err := h.CaptureCommand(ctx, cmd)
		if err != nil && connectErrorOf(err) == nil {
			return fmt.Errorf("cannot read repository %s: %w", r.Config.RepoURL, err)
		}
		if err != nil {
			return err // the host, not the repository
		}
		if out == "" && !r.DryRun() {
			return fmt.Errorf("branch %q does not exist in %s", r.Config.Branch, r.Config.RepoURL)
		}
		return nil
	})
}

// gitCloneCmd mirrors the repository unless the mirror exists; depth > 0
// makes a shallow mirror.
func gitCloneCmd(repoURL, repoPath string, depth int) shell.Command {
	args := []string{"clone", "--mirror"}
	if depth > 0 {
		args = append(args, "--depth", strconv.Itoa(depth), "--no-single-branch")
	}
	return withGitEnv(shell.New("test", "-f", path.Join(repoPath, "HEAD")).
		Or(gitCmd(append(args, "--", repoURL, repoPath)...)))
}

func gitClone(ctx context.Context) error {
	r := CurrentRun(ctx)
	g := gitOf(r)
	cmd := gitCloneCmd(r.Config.RepoURL, r.RepoPath(), g.ShallowClone).In(r.Config.DeployTo)
	return On(ctx, ReleaseRoles(), func(ctx context.Context, h *Host) error {
		if r.hostState(h).mirrorExists {
			return nil // deploy:check:directories saw repo/HEAD
		}
		return h.ExecuteCommand(ctx, cmd)
	}, g.fetchLimit())
}

// gitUpdateCmd points the mirror at the configured URL and fetches (every
// ref, or with depth > 0 only branch, shallowly), then prints the commit id
// and time of branch as its last line.
func gitUpdateCmd(repoURL, repoPath, branch string, depth int) shell.Command {
	fetch := gitCmd("remote", "update", "--prune")
	if depth > 0 {
		fetch = gitCmd("fetch", "--depth", strconv.Itoa(depth), "origin", branch)
	}
	return withGitEnv(gitCmd("remote", "set-url", "origin", repoURL).And(fetch).And(gitResolveArgs(branch))).In(repoPath)
}

// gitUpdate fetches the mirror on every host and, in the same command,
// resolves the branch there. The first host's answer becomes the run's
// revision, so every host archives the same commit even if the branch
// moves during the deploy.
func gitUpdate(ctx context.Context) error {
	r := CurrentRun(ctx)
	g := gitOf(r)
	cmd := gitUpdateCmd(r.Config.RepoURL, r.RepoPath(), r.Config.Branch, g.ShallowClone)
	hosts, _ := ReleaseRoles()(r)
	resolved := make(map[*Host]string, len(hosts))
	var mu sync.Mutex
	err := On(ctx, ReleaseRoles(), func(ctx context.Context, h *Host) error {
		out, err := h.run1(ctx, cmd, runOpts{capture: true})
		mu.Lock()
		resolved[h] = lastLine(out)
		mu.Unlock()
		return err
	}, g.fetchLimit())
	if err != nil {
		return err
	}
	if len(hosts) == 0 {
		return fmt.Errorf("no server takes part in releases (all are NoRelease)")
	}
	rev := Revision{Branch: r.Config.Branch}
	if r.DryRun() {
		rev.SHA = "<revision-of-" + r.Config.Branch + ">"
	} else if rev.SHA, rev.Time, err = parseResolved(resolved[hosts[0]]); err != nil {
		return fmt.Errorf("%s: resolving %q: %w", hosts[0], r.Config.Branch, err)
	}
	return SetRevision(ctx, rev)
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// gitResolveArgs prints the full commit id and commit time of branch.
func gitResolveArgs(branch string) shell.Command {
	return gitCmd("--no-pager", "log", "-1", "--no-walk", "--format=%H %ct", "--end-of-options", branch+"^{commit}", "--")
}

// parseResolved reads the output of gitResolveArgs.
func parseResolved(out string) (sha string, t int64, err error) {
	f := strings.Fields(out)
	if len(f) != 2 || !fullSHA.MatchString(f[0]) {
		return "", 0, fmt.Errorf("unexpected output from git log: %q", out)
	}
	t, err = strconv.ParseInt(f[1], 10, 64)
	return f[0], t, err
}

// createReleaseCmd marks the release unfinished with the run id, then
// makes its directory (refusing one that exists) and unpacks source into
// it. The marker comes first, so a run killed at any point leaves nothing
// that looks like a finished release.
func createReleaseCmd(deployTo, release, runID string, source shell.Command) shell.Command {
	marker := path.Join(unfinishedDir(deployTo), path.Base(release))
	return shell.New("test", "!", "-e", release).
		Or(shell.New("echo", "release "+release+" already exists").ToStderr().And(shell.New("false"))).
		And(shell.New("mkdir", "-p", unfinishedDir(deployTo))).
		And(shell.New("echo", runID).WriteTo(marker)).
		And(shell.New("mkdir", release)).
		And(source)
}

// gitArchiveCmd unpacks sha (or its subdirectory tree) into release.
func gitArchiveCmd(repoPath, sha, tree, release string) shell.Command {
	args := []string{"archive", "--format=tar", sha}
	tar := []string{"-x", "-f", "-", "-C", release}
	if tree != "" {
		tree = strings.Trim(path.Clean(tree), "/")
		args = append(args, "--", tree)
		tar = append([]string{"-x", "--strip-components", strconv.Itoa(strings.Count(tree, "/") + 1)}, tar[1:]...)
	}
	return withGitEnv(gitCmd(args...).Pipe(shell.New("tar", tar...))).In(repoPath)
}

func gitCreateRelease(ctx context.Context) error {
	r := CurrentRun(ctx)
	rev := r.Revision()
	if rev.SHA == "" {
		return fmt.Errorf("no revision resolved: git:update must run first")
	}
	release := r.ReleasePath()
	cmd := createReleaseCmd(r.Config.DeployTo, release, r.ID, gitArchiveCmd(r.RepoPath(), rev.SHA, r.Config.RepoTree, release)).
		And(writeRevisionCmd(release, rev))
	return On(ctx, ReleaseRoles(), func(ctx context.Context, h *Host) error {
		st := r.hostState(h)
		st.created = true
		if err := h.ExecuteCommand(ctx, cmd); err != nil {
			return err
		}
		st.revisionWritten = true
		return nil
	})
}
