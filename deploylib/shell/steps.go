package shell

import (
	"strconv"
	"strings"
)

// A script of steps runs several commands in one remote command, and says
// where each one ended, so that the caller can tell their output and exit
// status apart:
//
//	STEP1
//	capstan_s=$?; printf '\n%s%s %s %s\n' capstan-step: TOKEN 1 "$capstan_s"; printf ... >&2; [ "$capstan_s" -eq 0 ] || exit "$capstan_s"
//	( cd DIR && STEP2 )
//	...
//
// A step that changes directory runs in a subshell of its own, so its cd
// stays there (a command with environment is a subshell already). After it, a marker line, "capstan-step:TOKEN N STATUS" preceded
// by a newline, goes to standard output and to standard error; a step
// that fails ends the script with its exit status, so the steps after it
// never run. The marker is printed in two parts, so the script's own text
// never contains it (a shell tracing its commands, or an error message
// quoting the script, cannot fake one).

// steps is the script of a Steps command.
type steps struct {
	token string
	cmds  []Command
}

// Steps returns a command that runs cmds in turn, as one script, printing
// the marker of [StepMarker] after each (numbered from 1) and stopping at
// the first that fails. token must be made of letters, digits, '-' and
// '.' only, and should be unique to the run: output that holds the marker
// would be taken for it.
func Steps(token string, cmds ...Command) Command {
	return Command{script: &steps{token: token, cmds: append([]Command(nil), cmds...)}}
}

// StepList returns the token and the steps of a command made with
// [Steps], or "" and nil for any other command. Test backends use it to
// answer each step as a shell would.
func (c Command) StepList() (token string, cmds []Command) {
	if c.script == nil {
		return "", nil
	}
	return c.script.token, append([]Command(nil), c.script.cmds...)
}

// StepMarker returns what a script of steps prints, on standard output and
// on standard error, after step n (counted from 1) ended with status.
func StepMarker(token string, n, status int) string {
	return StepMarkerPrefix(token) + strconv.Itoa(n) + " " + strconv.Itoa(status) + "\n"
}

// StepMarkerPrefix is the part of every marker of token before the step's
// number: a newline and "capstan-step:TOKEN ".
func StepMarkerPrefix(token string) string { return "\ncapstan-step:" + token + " " }

func (s *steps) render(b *strings.Builder) {
	tok := Quote(s.token)
	for i, c := range s.cmds {
		if i > 0 {
			b.WriteByte('\n')
		}
		if c.Dir != "" || c.raw != "" || c.script != nil {
			// Its cd (or whatever a script does) stays in a subshell.
			b.WriteString("( ")
			c.render(b)
			b.WriteString(" )\n")
		} else {
			c.render(b)
			b.WriteByte('\n')
		}
		n := strconv.Itoa(i + 1)
		marker := `printf '\n%s%s %s %s\n' capstan-step: ` + tok + " " + n + ` "$capstan_s"`
		b.WriteString(`capstan_s=$?; ` + marker + "; " + marker + ` >&2; [ "$capstan_s" -eq 0 ] || exit "$capstan_s"`)
	}
}
