package engine

import "github.com/capstan-deploy/capstan/deploylib/internal/remote"

// hostStates is the state of each of the run's hosts, by the Host the
// run made (Host.origin).
type hostStates map[*Host]*hostState

// of returns h's state.
func (s hostStates) of(h *Host) *hostState { return s[h.origin()] }

// builtNotPublished reports whether this run created its release on some
// host and did not publish it there.
func (s hostStates) builtNotPublished() bool {
	for _, st := range s {
		if st.created && !st.switched {
			return true
		}
	}
	return false
}

// recoveryPending reports whether deploy:failed's own work has something
// to do: a removal of old releases cut short, or a release this run
// created and did not publish.
func (s hostStates) recoveryPending() bool {
	for _, st := range s {
		if len(st.removing) > 0 || st.created && !st.switched {
			return true
		}
	}
	return false
}

// hostState is what the engine tracks per host during a run.
type hostState struct {
	created    bool      // this run created the release directory on the host
	learned    hostFacts // what earlier tasks of the run learned about the host
	switched   bool      // current points at this run's release
	rolledFrom string    // the release a rollback moves current away from
	removing   []string  // old releases whose removal was sent and has not reported back

	locked       bool   // this run holds the deploy lock on the host (lock.go)
	lockSent     bool   // the command taking the lock was sent to the host
	switchTried  bool   // the switch of current was sent to the host
	switchedBack bool   // current was put back on previous after a failure
	checking     bool   // the health check was sent to the host and has not passed there
	unknown      string // why the host's current is unknown after a failure
}

// hostFacts is what a task of the run learned about a host that a later
// task uses instead of asking the host again: each fact names the task
// that learns it and the tasks that use it, in the order the flows
// (tasks.go) run them. A task that finds a fact unknown (run on its own,
// or after a host answered nothing) asks the host itself, so the facts
// save round trips and never change what a task decides.
type hostFacts struct {
	// previous is the release current pointed at before the run.
	// deploy:lock reads it under the lock (previousKnown), else
	// deploy:set_previous_revision does; the switch back after a failure
	// and the host report use it.
	previous      string
	previousKnown bool
	// mirrorExists: deploy:check:directories found the git mirror, so
	// git:clone skips the host.
	mirrorExists bool
	// mirrorAt is the commit the branch was at in the mirror before the
	// run fetched, "" when unknown (deploy:check:directories); git:update
	// fetches only where it lacks the pinned revision.
	mirrorAt string
	// listing is what releases/ held when deploy:lock took the lock, nil
	// when its answer did not say; deploy:cleanup then lists them itself.
	listing *remote.Listing
	// newestRelease is the last release name in releases/, read by
	// deploy:lock; deploy:new_release_path names the release after it.
	newestRelease string
	// revisionWritten: the strategy's create_release task wrote REVISION
	// and REVISION_TIME with the release's files, so
	// deploy:set_current_revision has nothing to do on the host.
	revisionWritten bool
}
