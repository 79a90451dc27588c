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

// listNames prints the names in dir, one per line, as ls -1 does (hidden
// names left out, in the shell's sort order), with the shell's own pattern
// matching instead of ls: nothing when dir is missing, empty or not a
// directory. It always succeeds.
func listNames(dir string) shell.Command {
	return shell.POSIX("for capstan_f in " + shell.Quote(dir) + `/*; do ` +
		`test -e "$capstan_f" || test -L "$capstan_f" && printf '%s\n' "${capstan_f##*/}"; done; true`)
}

// HasLine succeeds when file has a line that is exactly line, as
// grep -qxF -- line file does, reading it with the shell's read instead of
// grep; a file that cannot be read has no line. It prints nothing.
func HasLine(file, line string) shell.Command {
	return shell.POSIX("( exec <" + shell.Quote(file) + " || exit 1; " +
		`while IFS= read -r capstan_l || test -n "$capstan_l"; do test "$capstan_l" = ` + shell.Quote(line) +
		` && exit 0; done; exit 1 ) 2>/dev/null`)
}
