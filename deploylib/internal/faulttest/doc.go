// Package faulttest is Capstan's fault suite: deploys against real OpenSSH
// hosts of the test lab (package lab) while things go wrong: a host dying
// between switches, a host unreachable from the start, a failing hook, two
// deploys racing for the lock, the deploying process killed or interrupted
// at each phase, hostile branch names and paths, a secret that must not
// leak, a full disk. After each scenario the suite checks the invariants
// that Capstan guarantees: every host's current points at a complete
// release, all hosts agree, no deploy lock is left, no remote process of
// the run is still running.
//
// It uses only the public API (deploylib.Start with options, the lab), as
// a team's own tests would. The package has no non-test code; its tests
// need root (private mount namespaces give each host its own /srv) and
// fail rather than skip under CI=true when the lab cannot run.
package faulttest
