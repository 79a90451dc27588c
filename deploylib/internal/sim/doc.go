// Package sim is the simulation of DESIGN.md section 6: a fleet of up to
// a thousand SSH servers, each behind the latency proxy of
// deploylib/lab/latency (50 ms round trip by default), and a client that
// runs a full standard deploy (git strategy) to them with the real code
// path: [deploylib.Start] with the SSH backend, dialing the servers over
// loopback TCP, verifying their host keys against a generated known_hosts
// file and logging in with a generated key.
//
// The servers are x/crypto/ssh servers that emulate the commands instead
// of running them: they answer the command shell protocol of
// deploylib/backend/sshbackend (shell.go) and exec requests, print the
// outputs the flow parses (the lock's capstan-lock-taken marker, git's
// commit id) and report success for everything else. The simulation
// therefore measures what the client costs per host (wall time, CPU,
// memory) and proves nothing about correctness.
//
// Its command, cmd/capstan-sim, runs the fleet in a child process and each
// measured deploy in a fresh client process, so that the CPU time and
// memory it reports are the client's alone; the repository's mage target
// (go tool mage sim) builds and runs it. Nothing in deploylib imports this
// package.
package sim
