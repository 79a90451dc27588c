package deploylib

import (
	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
)

// The git strategy's tasks. Each is defined once, by its step (plan.go):
// the engine runs it alone, or fused into one script per host with its
// neighbours.
var (
	// GitCheck checks that every server can read the repository and that
	// the branch exists (git ls-remote), so a missing branch or credential
	// fails the deploy before anything changes. The refs the first release
	// host listed pin the revision.
	GitCheck = engine.GitCheck
	// GitClone mirrors the repository into repo/ on every release host
	// that has no mirror yet, at most Git.MaxConcurrent at once.
	GitClone = engine.GitClone
	// GitUpdate fetches the mirror on every host and, in the same command,
	// resolves the branch there. The first host's answer becomes the run's
	// revision, so every host archives the same commit even if the branch
	// moves during the deploy. With a pinned revision, a host whose mirror
	// has it fetches nothing.
	GitUpdate = engine.GitUpdate
	// GitCreateRelease resolves the revision once and archives it into the
	// release on every server: every release host unpacks the run's
	// revision from its mirror into the new release directory and writes
	// REVISION and REVISION_TIME there, in one command. Its release is
	// removed by deploy:failed unless published.
	GitCreateRelease = engine.GitCreateRelease
)

// Git is Capistrano's git strategy: a mirror of the repository in
// <deploy_to>/repo on every server, updated each deploy, from which the
// revision is archived into the release. The branch is resolved to one
// commit once per run and every server archives that commit.
type Git = engine.Git

// HealthCheck is a check that must pass on every release host once
// current points at the new release (Config.HealthCheck). It runs as
// deploy:health_check, the last step of deploy:publishing; when it fails
// on any host, every host is switched back to the release it served
// before, and the run fails saying so.
type HealthCheck = engine.HealthCheck

// CheckHealth runs Config.HealthCheck on every release host after current
// switched; when it fails anywhere, every host goes back to its previous
// release. It is a step of deploy:publishing only when a health check is
// configured.
var CheckHealth = engine.CheckHealth

// Strategy produces the files of each release. [Git] (the default) keeps
// a mirror of the repository on every server and archives the revision
// from it; [Upload] builds the release on the machine running mage and
// streams it to every server. A team may supply its own.
type Strategy = engine.Strategy

// Upload is the strategy for teams that build on the machine running mage:
// each release's files are packed there into one tar stream and unpacked
// into the release on every server, so the servers need neither git nor
// repository credentials. It works on the Local backend too.
//
// With Dir set, the release is that local directory's contents (for
// example the output of go build, produced by Build); its revision is the
// local repository's HEAD, marked dirty when the working tree has
// uncommitted changes. With Dir empty, the release is a local git archive
// of the configured branch (Config.RepoTree applies).
type Upload = engine.Upload

// UploadCheck checks that the local source exists and resolves.
var UploadCheck = engine.UploadCheck

// UploadCreateRelease packs the release locally once and streams it to
// every server.
var UploadCreateRelease = engine.UploadCreateRelease
