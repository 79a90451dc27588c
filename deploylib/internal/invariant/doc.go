// Package invariant is Capstan's randomized invariant suite: from a seed
// it generates a configuration (strategy, deploy_to, branch, linked files
// and dirs, committed symlinks, keep_releases, junk in releases/) and a
// short sequence of operations (deploy, rollback, ROLLBACK_RELEASE,
// standard tasks on their own, deploy:unlock, two runs at once, SIGINT or
// SIGTERM at a pause point inside a remote command, a hook failing on one
// host, a host lost mid-run, a hand-made release; and, from a random
// stream of their own so that older seeds play what they played before: a
// deploy holding the lock from another PID namespace or another machine
// with this hostname while deploy:unlock runs, a lock with hostile details,
// an output line holding a secret around the 32 KiB line cap, a release
// named 99999999999999, a cleanup that cannot remove a file), plays it on
// real sshd lab hosts, and after every operation checks:
//
//   - current-complete: on every host current is absent or a symlink to
//     <deploy_to>/releases/<14 digits>, a directory whose REVISION is the
//     deployed commit, with no unfinished marker (or the team's hand-made
//     release); release-content: that release holds the source's files,
//     the linked paths as symlinks into shared/;
//   - hosts-agree: the hosts that can be reached serve the same release;
//   - shared-intact: the files the team put in shared/ (and its entries
//     in releases/) are unchanged, every element of their path still a
//     real directory;
//   - outside-intact: nothing outside deploy_to changed (a sentinel tree
//     in each host's /srv, including where a committed symlink points),
//     and no hostile name was run as code (/srv/pwned-inv-*);
//   - no-stale-lock, no-leftovers, no-unfinished, no-strays: with no run
//     alive no lock is left, nothing in .capstan/ but the lock dir and
//     the markers dir, no unfinished or half-built release, no remote
//     process; lock-exclusive: of two runs, no run is inside its locked
//     section while the other is, and at least one proceeds; a live
//     holder's lock is never removed without FORCE, whatever machine or
//     PID namespace it runs in; lock-only: deploy:unlock removes the lock
//     and nothing else, whatever its details say;
//   - unpublished: the exceptions to no-unfinished, as DESIGN §3.4 has
//     them: deploy:updating run on its own leaves its release complete,
//     marked unfinished and not current; a release cleanup could not
//     remove whole stays marked; the next successful cleanup removes both;
//   - secret-redacted: no piece of 8 characters of a registered secret
//     is in the console or the log file, wherever the line cap cuts;
//   - keep-releases: at most keep_releases finished releases after a
//     deploy, never more than before after anything else;
//   - revisions-log: only Capistrano's two line formats, appended to,
//     and the last line is the deploy's or the rollback's own;
//   - exit-status, failure-named: a run with no fault succeeds and did
//     what it says (current on the new release or the rollback's target,
//     the one predicted from the state before), or refuses a
//     questionable configuration having changed nothing; a run with a
//     fault fails, names the host and the cause, and leaves current on the
//     previous or the new release as the phase of the failure says; a
//     signal gives exit status 128+n.
//
// A failing seed prints the command that replays it. RegressionSeeds,
// the seeds of past findings, run in CI and in every soak besides the
// generated seeds. The package has no
// non-test code beyond the generator; its tests need root (each lab host
// gets its own /srv) and fail rather than skip under CI=true.
package invariant
