package deploylib

import (
	"context"
	"fmt"
	"path"
	"strings"
	"sync"

	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
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

// fetchLimit returns the On option capping concurrent clones and fetches.
func (g Git) fetchLimit() OnOption { return InGroups(g.maxConcurrent(), 0) }

// maxConcurrent is how many servers may clone or fetch at once.
func (g Git) maxConcurrent() int {
	if g.MaxConcurrent <= 0 {
		return 10
	}
	return g.MaxConcurrent
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

// gitCheck is git:check: every release host can list the branch in the
// repository (git ls-remote), so a missing branch or credential fails the
// deploy before anything changes.
func gitCheck(ctx context.Context) error {
	r := CurrentRun(ctx)
	cmd := remote.GitCheck(r.Config.RepoURL, r.Config.Branch)
	var mu sync.Mutex
	listed := map[*Host]string{}
	err := On(ctx, ReleaseHosts(), func(ctx context.Context, h *Host) error {
		out, err := h.CaptureCommand(ctx, cmd)
		mu.Lock()
		listed[h] = out
		mu.Unlock()
		return r.gitCheckResult(out, err)
	})
	if err == nil {
		r.pinRevision(listed)
	}
	return err
}

// gitCheckResult reads git:check's answer on one host (trimmed).
func (r *Run) gitCheckResult(out string, err error) error {
	if err != nil && connectErrorOf(err) == nil {
		return fmt.Errorf("cannot read repository %s: %w", r.Config.RepoURL, err)
	}
	if err != nil {
		return err // the host, not the repository
	}
	if out == "" && !r.dryRun {
		return fmt.Errorf("branch %q does not exist in %s", r.Config.Branch, r.Config.RepoURL)
	}
	return nil
}

// pinRevision pins the commit the run deploys from the refs git:check
// listed on the first release host, when they tell it (remote.PinRevision):
// git:update then fetches only on hosts whose mirror lacks it, and every
// host archives it.
func (r *Run) pinRevision(listed map[*Host]string) {
	hosts, _ := ReleaseHosts()(r)
	if len(hosts) == 0 || r.dryRun {
		return
	}
	sha, ok := remote.PinRevision(listed[hosts[0]], r.Config.Branch)
	if !ok {
		return
	}
	r.mu.Lock()
	r.pinned = sha
	r.mu.Unlock()
}

// pinnedRevision returns the commit git:check pinned, "" when none.
func (r *Run) pinnedRevision() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pinned
}

// gitClone is git:clone: it mirrors the repository into repo/ on every
// release host that has no mirror yet.
func gitClone(ctx context.Context) error {
	r := CurrentRun(ctx)
	if err := r.refuseStandaloneCreate(); err != nil {
		return err
	}
	g, _ := strategyAs[Git](r.Config.Strategy)
	cmd := r.layout().GitClone(r.Config.RepoURL, g.ShallowClone)
	return On(ctx, ReleaseHosts(), func(ctx context.Context, h *Host) error {
		if r.hostState(h).learned.mirrorExists {
			return nil // deploy:check:directories saw repo/HEAD
		}
		return h.ExecuteCommand(ctx, cmd)
	}, g.fetchLimit())
}

// gitUpdate fetches the mirror on every host and, in the same command,
// resolves the branch there. The first host's answer becomes the run's
// revision, so every host archives the same commit even if the branch
// moves during the deploy.
func gitUpdate(ctx context.Context) error {
	r := CurrentRun(ctx)
	if err := r.refuseStandaloneCreate(); err != nil {
		return err
	}
	g, _ := strategyAs[Git](r.Config.Strategy)
	cmd := r.gitUpdateCmd()
	hosts, _ := ReleaseHosts()(r)
	resolved := make(map[*Host]string, len(hosts))
	var mu sync.Mutex
	err := On(ctx, ReleaseHosts(), func(ctx context.Context, h *Host) error {
		out, err := h.runCommand(ctx, cmd, runOpts{capture: true})
		mu.Lock()
		resolved[h] = lastLine(out)
		mu.Unlock()
		return err
	}, g.fetchLimit())
	if err != nil {
		return err
	}
	return r.setResolved(ctx, hosts, resolved)
}

// gitUpdateCmd is git:update's command: with a pinned revision, a fetch
// only when the mirror lacks it.
func (r *Run) gitUpdateCmd() shell.Command {
	g, _ := strategyAs[Git](r.Config.Strategy)
	if pin := r.pinnedRevision(); pin != "" {
		return r.layout().GitUpdatePinned(r.Config.RepoURL, r.Config.Branch, pin, g.ShallowClone)
	}
	return r.layout().GitUpdate(r.Config.RepoURL, r.Config.Branch, g.ShallowClone)
}

// setResolved makes the first host's resolution of the branch the run's
// revision.
func (r *Run) setResolved(ctx context.Context, hosts []*Host, resolved map[*Host]string) error {
	var err error
	if len(hosts) == 0 {
		return fmt.Errorf("no server takes part in releases (all are NoRelease)")
	}
	rev := Revision{Branch: r.Config.Branch}
	if r.dryRun {
		rev.SHA = "<revision-of-" + r.Config.Branch + ">"
	} else if rev.SHA, rev.Time, err = remote.ParseResolved(resolved[hosts[0]]); err != nil {
		return fmt.Errorf("%s: resolving %q: %w", hosts[0], r.Config.Branch, err)
	}
	return SetRevision(ctx, rev)
}

// lastLine returns the last line of s, without its newline.
func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// gitCreateRelease is git:create_release: every release host unpacks the
// run's revision from its mirror into the new release directory and
// writes REVISION and REVISION_TIME there, in one command.
func gitCreateRelease(ctx context.Context) error {
	r := CurrentRun(ctx)
	rev := r.Revision()
	if rev.SHA == "" {
		return fmt.Errorf("no revision resolved: git:update must run first")
	}
	release, err := r.runRelease(GitCreateRelease)
	if err != nil {
		return err
	}
	cmd := r.createReleaseCmd(release, rev.SHA, remote.WriteRevision(release, rev.Recorded(), rev.Time))
	return On(ctx, ReleaseHosts(), func(ctx context.Context, h *Host) error {
		st := r.hostState(h)
		st.created = true
		if err := h.ExecuteCommand(ctx, cmd); err != nil {
			return err
		}
		st.learned.revisionWritten = true
		return nil
	})
}

// createReleaseCmd is git:create_release's command: it creates the release
// from commit sha of the mirror and writes its REVISION files with
// revision.
func (r *Run) createReleaseCmd(release, sha string, revision shell.Command) shell.Command {
	l := r.layout()
	return l.CreateRelease(path.Base(release), r.ID, l.GitArchive(sha, r.Config.RepoTree, release)).And(revision)
}

// refuseStandaloneCreate refuses git:create_release started by name (on
// its own, or listed before deploy:new_release_path) when the run has no
// release yet, before its git:clone and git:update touch the mirror: it
// would refuse after them (it has no release to create), and a refused
// task changes nothing.
func (r *Run) refuseStandaloneCreate() error {
	if !r.named(GitCreateRelease) {
		return nil
	}
	_, err := r.runRelease(GitCreateRelease)
	return err
}
