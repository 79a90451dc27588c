package shell

import (
	"strconv"
	"strings"
	"sync"
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
// stays there (a command with environment is a subshell already). After
// each step, a marker line, "capstan-step:TOKEN N STATUS" preceded by a
// newline, goes to standard output and to standard error; a step that
// fails ends the script with its exit status, so the steps after it never
// run. The marker is printed in two parts, so the script's own text never
// contains it (a shell tracing its commands, or an error message quoting
// the script, cannot fake one).
//
// A step may have a [Gate]: a check of its standard output (a check whose
// answer is in what it prints, not in its exit status). When the gate
// fails, the script prints the marker of step 0 on standard output after
// the step's own marker and ends with status 0: the step ran, and the
// steps after it did not.

// Step is one command of a script of steps, and its gate.
type Step struct {
	Cmd  Command
	Gate Gate
}

// Gate checks what a step printed on standard output: the steps after it
// run only when it passes.
type Gate struct {
	// NonEmpty requires output other than white space.
	NonEmpty bool
	// RejectLines fails on a line equal to any of them.
	RejectLines []string
	// RejectPrefixes fails on a line that starts with any of them.
	RejectPrefixes []string
}

// IsZero reports whether g checks nothing.
func (g Gate) IsZero() bool {
	return !g.NonEmpty && len(g.RejectLines) == 0 && len(g.RejectPrefixes) == 0
}

// Passes reports whether output out passes g, as the script decides it.
func (g Gate) Passes(out string) bool {
	// The script's [:space:]: ASCII white space only (a no-break space
	// is output, as sh sees it).
	if g.NonEmpty && strings.Trim(out, " \t\n\v\f\r") == "" {
		return false
	}
	for _, line := range strings.Split(out, "\n") {
		for _, r := range g.RejectLines {
			if line == r {
				return false
			}
		}
		for _, p := range g.RejectPrefixes {
			if strings.HasPrefix(line, p) {
				return false
			}
		}
	}
	return true
}

// command returns the shell command that runs stop unless the output in
// $capstan_o passes: shell builtins only (case), no process.
func (g Gate) command(stop string) string {
	var b strings.Builder
	if g.NonEmpty {
		b.WriteString(`case "$capstan_o" in *[![:space:]]*) ;; *) ` + stop + ` ;; esac; `)
	}
	var pats []string
	for _, l := range g.RejectLines {
		pats = append(pats, `*"$capstan_n"`+literal(l)+`"$capstan_n"*`)
	}
	for _, p := range g.RejectPrefixes {
		pats = append(pats, `*"$capstan_n"`+literal(p)+`*`)
	}
	if len(pats) > 0 {
		// Every line between newlines: one before the first, one after the last.
		b.WriteString(`case "$capstan_n$capstan_o$capstan_n" in ` + strings.Join(pats, "|") + `) ` + stop + ` ;; esac; `)
	}
	return strings.TrimSuffix(b.String(), " ")
}

// literal quotes s for a case pattern: always in single quotes, so that
// no character of it is a pattern character.
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// stepScript is the script of a Steps command.
type stepScript struct {
	token string
	steps []Step
	// before and after enclose the steps (StepsWithin).
	before, after string

	once sync.Once // renders text on first use
	text string
}

// Steps returns a command that runs steps in turn, as one script, printing
// the marker of [StepMarker] after each (numbered from 1) and stopping at
// the first that fails, or whose gate fails. token must be made of
// letters, digits, '-' and '.' only, and should be unique to the run:
// output that holds the marker would be taken for it.
func Steps(token string, steps ...Step) Command {
	return Command{script: &stepScript{token: token, steps: append([]Step(nil), steps...)}}
}

// StepList returns the token and the steps of a command made with
// [Steps], or "" and nil for any other command. Test backends use it to
// answer each step as a shell would.
func (c Command) StepList() (token string, list []Step) {
	if c.script == nil {
		return "", nil
	}
	return c.script.token, append([]Step(nil), c.script.steps...)
}

// StepMarker returns what a script of steps prints, on standard output and
// on standard error, after step n (counted from 1) ended with status; step
// 0 is the gate's stop, on standard output only.
func StepMarker(token string, n, status int) string {
	return StepMarkerPrefix(token) + strconv.Itoa(n) + " " + strconv.Itoa(status) + "\n"
}

// StepMarkerPrefix is the part of every marker of token before the step's
// number: a newline and "capstan-step:TOKEN ".
func StepMarkerPrefix(token string) string { return "\ncapstan-step:" + token + " " }

// render writes the script: rendered once, as a Steps command is rendered
// several times (the log, the backend) and is immutable.
func (s *stepScript) render(b *strings.Builder) { b.WriteString(s.rendered()) }

// rendered returns the script's text, rendering it on first use.
func (s *stepScript) rendered() string {
	s.once.Do(func() {
		var sb strings.Builder
		sb.Grow(1024)
		s.build(&sb)
		s.text = sb.String()
	})
	return s.text
}

func (s *stepScript) build(b *strings.Builder) {
	b.WriteString(s.before)
	defer b.WriteString(s.after)
	tok := Quote(s.token)
	marker := func(n string) string {
		return `printf '\n%s%s %s %s\n' capstan-step: ` + tok + " " + n + ` "$capstan_s"`
	}
	for _, st := range s.steps {
		if !st.Gate.IsZero() {
			b.WriteString("capstan_n='\n'\n") // a newline, for the gates
			break
		}
	}
	for i, st := range s.steps {
		c := st.Cmd
		if i > 0 {
			b.WriteByte('\n')
		}
		gated := !st.Gate.IsZero()
		switch {
		case gated:
			// Its output is kept (with its last newlines: the x) for the gate.
			b.WriteString("capstan_o=$( ")
			c.render(b)
			b.WriteString("\ncapstan_s=$?; printf x; exit \"$capstan_s\" ); capstan_s=$?; capstan_o=${capstan_o%x}; printf '%s' \"$capstan_o\"; ")
		case c.Dir != "" || c.raw != "" || c.script != nil:
			// Its cd (or whatever a script does) stays in a subshell.
			b.WriteString("( ")
			c.render(b)
			b.WriteString(" )\n")
		default:
			c.render(b)
			b.WriteByte('\n')
		}
		n := strconv.Itoa(i + 1)
		if !gated {
			b.WriteString(`capstan_s=$?; `)
		}
		writeMarker := func() {
			b.WriteString(`printf '\n%s%s %s %s\n' capstan-step: `)
			b.WriteString(tok)
			b.WriteByte(' ')
			b.WriteString(n)
			b.WriteString(` "$capstan_s"`)
		}
		writeMarker()
		b.WriteString("; ")
		writeMarker()
		b.WriteString(` >&2; [ "$capstan_s" -eq 0 ] || exit "$capstan_s"`)
		if gated {
			b.WriteString("\n" + st.Gate.command(`{ `+marker("0")+`; exit 0; }`))
		}
	}
}

// StepsWithin returns [Steps] enclosed in before and after, shell text
// written on purpose (not quoted), such as a preamble that reads values
// from standard input and the brace that closes it. The result is still
// a script of steps: [Command.StepList] returns its steps.
func StepsWithin(before, after, token string, steps ...Step) Command {
	c := Steps(token, steps...)
	c.script.before, c.script.after = before, after
	return c
}
