package deploylib

import (
	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
)

// Address is a parsed host string: "user@host:port", "host", "[::1]:2222".
type Address = engine.Address

// ParseAddress parses a host string as a stage writes it.
func ParseAddress(s string) (Address, error) { return engine.ParseAddress(s) }

// LocalStage returns the embedded default stage for the git repository
// containing dir: one server, this machine, reached through /bin/sh; the
// repository itself as the source; its checked-out branch (or commit, on a
// detached HEAD) as the revision; and <top>/.deploy/local as deploy_to.
//
// Where this machine cannot run commands through /bin/sh (Windows), it
// fails with an error wrapping [backend.ErrNoLocalShell].
func LocalStage(dir string) (Stage, error) { return engine.LocalStage(dir) }

// Stage is one deployment target: a named set of servers with its own
// settings. A team writes one per file in its stages package and selects
// it from a mage target with [UseStage].
type Stage = engine.Stage

// Server is one host of a stage.
type Server = engine.Server

// SSHOptions are the SSH settings of a stage. The zero value verifies host
// keys against ~/.ssh/known_hosts and authenticates with ssh-agent and the
// default key files.
type SSHOptions = engine.SSHOptions
