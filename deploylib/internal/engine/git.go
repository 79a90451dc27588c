package engine

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
	"github.com/capstan-deploy/capstan/deploylib/internal/script"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// The git strategy's tasks. Each is defined once, by its step (plan.go):
// the engine runs it alone, or fused into one script per host with its
// neighbours.
var (
	// GitCheck checks that every server can read the repository and that
	// the branch exists (git ls-remote), so a missing branch or credential
	// fails the deploy before anything changes. The refs the first release
	// host listed pin the revision.
	GitCheck = &Task{name: "git:check", doc: "checks that the repository is reachable",
		plan: func(_ context.Context, r *Run, _ *segment, _ *Task) (*step, error) {
			var mu sync.Mutex
			listed := map[*Host]string{}
			return &step{
				cmd:  everywhere(remote.GitCheck(r.Config.RepoURL, r.Config.Branch)),
				opts: captured,
				gate: script.Gate{NonEmpty: true}, // else the branch does not exist
				keep: listedVar,                   // for git:update in the same script
				done: func(_ context.Context, h *Host, out string, err error) error {
					out = strings.TrimSpace(out)
					mu.Lock()
					listed[h] = out
					mu.Unlock()
					switch {
					case err != nil && connectErrorOf(err) == nil:
						return fmt.Errorf("cannot read repository %s: %w", r.Config.RepoURL, err)
					case err != nil:
						return err // the host, not the repository
					case out == "" && !r.dryRun:
						return fmt.Errorf("branch %q does not exist in %s", r.Config.Branch, r.Config.RepoURL)
					}
					return nil
				},
				// The refs listed on the first release host pin the commit
				// the run deploys, when they tell it (remote.PinRevision):
				// git:update then fetches only on hosts whose mirror lacks
				// it, and every host archives it.
				finish: func(_ context.Context, err error) error {
					hosts, _ := ReleaseHosts()(r)
					if err != nil || len(hosts) == 0 || r.dryRun {
						return err
					}
					if sha, ok := remote.PinRevision(listed[hosts[0]], r.Config.Branch); ok {
						r.pinned.set(sha)
					}
					return nil
				},
			}, nil
		}}

	// GitClone mirrors the repository into repo/ on every release host
	// that has no mirror yet, at most Git.MaxConcurrent at once.
	GitClone = &Task{name: "git:clone", doc: "clones the repository mirror",
		plan: func(_ context.Context, r *Run, seg *segment, _ *Task) (*step, error) {
			if seg.has(CheckDirectories) && !withLock(r, seg) {
				return nil, errNotHere // it tells where the mirror exists
			}
			if err := refuseStandaloneCreate(r.tasks, r.runRelease); err != nil {
				return nil, err
			}
			g, _ := strategyAs[Git](r.Config.Strategy)
			cmd := r.layout().GitClone(r.Config.RepoURL, g.ShallowClone)
			noMirror := func(h *Host) bool { return !r.state.of(h).learned.mirrorExists }
			return &step{
				cmd:       func(h *Host) (shell.Command, bool) { return cmd, noMirror(h) },
				done:      failure,
				needsTurn: noMirror,
				turns:     g.maxConcurrent(),
			}, nil
		}}

	// GitUpdate fetches the mirror on every host and, in the same command,
	// resolves the branch there. The first host's answer becomes the run's
	// revision, so every host archives the same commit even if the branch
	// moves during the deploy. With a pinned revision, a host whose mirror
	// has it fetches nothing. In the script that takes the lock nothing is
	// pinned yet: each host archives the branch as its own fetch resolved
	// it, and a host that resolved another commit than the first host
	// (the branch moved between their fetches) fails the deploy, which
	// removes the releases it built; a host whose mirror's branch is at
	// the commit git:check listed, earlier in the script, fetches nothing
	// (remote.GitUpdateUnlessListed).
	GitUpdate = &Task{name: "git:update", doc: "updates the repository mirror",
		plan: func(_ context.Context, r *Run, seg *segment, _ *Task) (*step, error) {
			fused := withLock(r, seg)
			if (seg.has(GitCheck) || seg.has(CheckDirectories)) && !fused {
				return nil, errNotHere // they pin the revision and say where each mirror is
			}
			if err := refuseStandaloneCreate(r.tasks, r.runRelease); err != nil {
				return nil, err
			}
			g, _ := strategyAs[Git](r.Config.Strategy)
			cmd := r.layout().GitUpdate(r.Config.RepoURL, r.Config.Branch, g.ShallowClone)
			switch pin := r.pinned.get(); {
			case pin != "":
				cmd = r.layout().GitUpdatePinned(r.Config.RepoURL, r.Config.Branch, pin, g.ShallowClone)
			case fused && seg.has(GitCheck) && !remote.IsFullSHA(r.Config.Branch):
				// git:check's listing, earlier in the script, says whether
				// the mirror has the branch's commit already.
				cmd = r.layout().GitUpdateUnlessListed(r.Config.RepoURL, r.Config.Branch, g.ShallowClone, listedVar)
			}
			hosts := seg.hosts
			var mu sync.Mutex
			resolved := make(map[*Host]string, len(hosts))
			return &step{
				cmd:  everywhere(cmd),
				opts: runOpts{capture: true},
				done: func(_ context.Context, h *Host, out string, err error) error {
					mu.Lock()
					resolved[h] = lastLine(out)
					mu.Unlock()
					return err
				},
				// The first host's resolution of the branch is the run's
				// revision.
				finish: func(ctx context.Context, err error) error {
					switch {
					case err != nil:
						return err
					case len(hosts) == 0:
						return fmt.Errorf("no server takes part in releases (all are NoRelease)")
					}
					if fused {
						if err := sameCommit(r.Config.Branch, hosts, resolved); err != nil {
							return err
						}
					}
					rev := Revision{Branch: r.Config.Branch}
					if r.dryRun {
						rev.SHA = "<revision-of-" + r.Config.Branch + ">"
					} else if rev.SHA, rev.Time, err = remote.ParseResolved(resolved[hosts[0]]); err != nil {
						return fmt.Errorf("%s: resolving %q: %w", hosts[0], r.Config.Branch, err)
					}
					return SetRevision(ctx, rev)
				},
				needsTurn: func(h *Host) bool {
					pin := r.pinned.get()
					return pin == "" || r.state.of(h).learned.mirrorAt != pin
				},
				turns: g.maxConcurrent(),
			}, nil
		}}

	// GitCreateRelease resolves the revision once and archives it into the
	// release on every server: every release host unpacks the run's
	// revision from its mirror into the new release directory and writes
	// REVISION and REVISION_TIME there, in one command. Its release is
	// removed by deploy:failed unless published.
	GitCreateRelease = &Task{name: gitCreateReleaseName, doc: "copies the revision into the release",
		steps: fixed(GitClone, GitUpdate),
		plan: func(_ context.Context, r *Run, seg *segment, t *Task) (*step, error) {
			rev, pin := r.Revision(), r.pinned.get()
			byRef := seg.has(GitUpdate) && pin == "" && withLock(r, seg)
			switch {
			case seg.has(GitUpdate) && pin == "" && !byRef:
				return nil, errNotHere // the revision is git:update's answer
			case !seg.has(GitUpdate) && rev.SHA == "":
				return nil, errors.New("no revision resolved: git:update must run first")
			}
			release, err := r.runRelease(t)
			if err != nil {
				return nil, err
			}
			l := r.layout()
			sha, revision := rev.SHA, remote.WriteRevision(release, rev.Recorded(), rev.Time)
			switch {
			case byRef:
				// The same script takes the lock and fetches, unpinned:
				// the branch as this host's fetch resolved it.
				sha, revision = r.Config.Branch+"^{commit}", l.WriteRevisionOfRef(release, r.Config.Branch)
			case seg.has(GitUpdate):
				// The same script fetches: the commit time comes from the mirror.
				sha, revision = pin, l.WriteRevisionFromMirror(release, pin)
			}
			return &step{
				cmd:     everywhere(l.CreateRelease(path.Base(release), r.ID, l.GitArchive(sha, r.Config.RepoTree, release)).And(revision)),
				sending: func(h *Host) { r.state.of(h).created = true },
				unsent:  func(h *Host) { r.state.of(h).created = false },
				done: func(_ context.Context, h *Host, _ string, err error) error {
					if err != nil {
						return err
					}
					r.state.of(h).learned.revisionWritten = true
					return nil
				},
				settle: func(h *Host, _ string, err error) {
					if err == nil {
						r.state.of(h).learned.revisionWritten = true
					}
				},
			}, nil
		}}
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

// withLock reports whether the git strategy's tasks join seg, the script
// that takes the lock, so that the release is built without a round of
// its own: only when every release host may fetch at once
// (Git.MaxConcurrent), since a host waiting for its turn to fetch would
// hold back its lock, which must be taken as the run starts (lock.go).
func withLock(r *Run, seg *segment) bool {
	g, _ := strategyAs[Git](r.Config.Strategy)
	return seg.has(Lock) && len(seg.hosts) <= g.maxConcurrent()
}

// listedVar is the shell variable in which git:check's answer (git
// ls-remote) is kept for git:update in the same script.
const listedVar = "capstan_ls"

// sameCommit fails when a host's git:update resolved branch to another
// commit than the first host's (resolved holds each host's answer): the
// branch moved between their fetches, and the releases differ.
func sameCommit(branch string, hosts []*Host, resolved map[*Host]string) error {
	want, _, err := remote.ParseResolved(resolved[hosts[0]])
	if err != nil {
		return nil // the first host's answer is reported as it is
	}
	for _, h := range hosts[1:] {
		if got, _, err := remote.ParseResolved(resolved[h]); err == nil && got != want {
			return fmt.Errorf("%s moved while the servers fetched it: %s resolved it to %s, %s to %s; no release was published (deploy again)",
				branch, hosts[0], want, h, got)
		}
	}
	return nil
}

// lastLine returns the last line of s, without its newline.
func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// refuseStandaloneCreate refuses git:create_release started by name (on
// its own, or listed before deploy:new_release_path) when the run has no
// release yet, before its git:clone and git:update touch the mirror: it
// would refuse after them (it has no release to create), and a refused
// task changes nothing. tasks are those the run was started with;
// runRelease is the run's (deploy.go).
func refuseStandaloneCreate(tasks []*Task, runRelease func(*Task) (string, error)) error {
	i := slices.IndexFunc(tasks, func(t *Task) bool { return t.name == gitCreateReleaseName })
	if i < 0 {
		return nil
	}
	_, err := runRelease(tasks[i])
	return err
}

// gitCreateReleaseName is git:create_release's name: refuseStandaloneCreate
// looks for it by name, since git:create_release's definition reaches
// refuseStandaloneCreate through git:update's (an initialization cycle).
const gitCreateReleaseName = "git:create_release"
