package remote

import "github.com/capstan-deploy/capstan/deploylib/shell"

// Every external command a step starts costs the host a process start
// (a few milliseconds each, more with several hosts sharing a machine),
// while test is a builtin of every POSIX shell. The helpers below start
// rm and mkdir only when there is something for them to do, which on a
// repeat deploy there usually is not; what they do is what the bare
// command does.

// removeIfPresent removes each path with rm -rf when any of them exists
// or is a symbolic link (a dangling one included), and otherwise starts
// nothing and succeeds.
func removeIfPresent(paths ...string) shell.Command {
	var absent shell.Command
	for _, p := range paths {
		c := shell.New("test", "!", "-e", p).And(shell.New("test", "!", "-L", p))
		if absent.IsZero() {
			absent = c
		} else {
			absent = absent.And(c)
		}
	}
	return absent.Or(shell.New("rm", append([]string{"-rf", "--"}, paths...)...))
}

// ensureDirs creates each directory with mkdir -p unless all of them are
// directories already, and otherwise starts nothing and succeeds.
func ensureDirs(dirs ...string) shell.Command {
	var present shell.Command
	for _, d := range dirs {
		c := shell.New("test", "-d", d)
		if present.IsZero() {
			present = c
		} else {
			present = present.And(c)
		}
	}
	return present.Or(shell.New("mkdir", append([]string{"-p"}, dirs...)...))
}
