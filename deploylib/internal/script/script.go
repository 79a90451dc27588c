// Package script is the planner's script protocol: a script of steps runs
// several commands in one remote command, and says where each one ended.
// The engine builds the scripts (Steps, Within) and cuts their output at
// the markers (Splitter); the test backends answer them as a shell would
// (List for a command value, AnswerText for the text an SSH server
// receives). It is the one implementation of the protocol.
package script

import (
	"bytes"
	"slices"
	"strconv"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/shell"
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
//
// One step may [Step.Await] a go-ahead: the script then moves its
// standard input to file descriptor 7 as it starts (every step reads
// /dev/null, and the steps before the awaiting one run without fd 7), and
// before that step reads one line from fd 7. Only [GoLine] of the token
// lets the script go on; any other line, or the end of the input, stops
// it there as a gate does (the marker of step 0, status 0): the steps
// before it ran, the awaiting step and those after it did not. Both
// lines start with '#', a comment to a shell that reads them as commands
// (backend.Stdio.CommentLines).

// Step is one command of a script of steps, and its gate.
type Step struct {
	Cmd  shell.Command
	Gate Gate
	// Keep, when set, is the name of a shell variable that receives the
	// step's standard output, for a later step of the same script to read
	// ($NAME): a name of lower-case letters, digits and '_' that starts
	// with "capstan_". Every kept variable is emptied when the script
	// starts, so a later step never reads a value from anywhere else (the
	// environment, a step that did not run).
	Keep string
	// Text, when set, is Cmd.String(), which the caller has already: the
	// script uses it rather than rendering Cmd again, except for a command
	// with a directory or a raw script, which runs in a subshell of its
	// own (Cmd.Subshell).
	Text string
	// Await makes the script wait, before this step, for GoLine on its
	// standard input, and stop there on anything else. At most one step
	// of a script may await.
	Await bool
}

// GoLine is the line that lets a script of token go on past its awaiting
// step (Step.Await); StopLine, or any other line, stops it there.
func GoLine(token string) string { return "#capstan-go:" + token }

// StopLine is the line that stops a script of token at its awaiting step.
func StopLine(token string) string { return "#capstan-stop:" + token }

// text returns the step's command as the script has it.
func (st Step) text() string {
	if st.Text != "" {
		return st.Text
	}
	return st.Cmd.String()
}

// validKeep reports whether name may be a Step's Keep.
func validKeep(name string) bool {
	rest, ok := strings.CutPrefix(name, "capstan_")
	if !ok || rest == "" {
		return false
	}
	for _, c := range rest {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
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

// stepScript is the script of a Steps command: what shell.Script carries.
type stepScript struct {
	token string
	steps []Step
}

// Steps returns a command that runs steps in turn, as one script, printing
// the marker of [Marker] after each (numbered from 1) and stopping at the
// first that fails, or whose gate fails. token must be made of letters,
// digits, '-' and '.' only, and should be unique to the run: output that
// holds the marker would be taken for it.
func Steps(token string, steps ...Step) shell.Command {
	return Within("", "", token, steps...)
}

// Within returns [Steps] enclosed in before and after, shell text written
// on purpose (not quoted), such as a preamble that reads values from
// standard input and the brace that closes it. The result is still a
// script of steps: [List] returns its steps.
func Within(before, after, token string, steps ...Step) shell.Command {
	awaits := 0
	for _, st := range steps {
		if st.Keep != "" && !validKeep(st.Keep) {
			panic("script: Keep " + strconv.Quote(st.Keep) + " is not a variable name that starts with capstan_")
		}
		if st.Await {
			awaits++
		}
	}
	if awaits > 1 {
		panic("script: more than one step awaits a go-ahead")
	}
	s := &stepScript{token: token, steps: append([]Step(nil), steps...)}
	var b strings.Builder
	b.WriteString(before)
	s.render(&b)
	b.WriteString(after)
	c := shell.Script(b.String(), s)
	if slices.ContainsFunc(steps, func(st Step) bool { return st.Cmd.NeedsLoginShell() }) {
		c = c.ForLoginShell()
	}
	return c
}

// Matches reports whether c has the text of Within(before, after, token,
// steps...), without building that text: the engine sends the same
// script to many hosts and keeps one copy of its text, not one per host.
func Matches(c shell.Command, before, after, token string, steps ...Step) bool {
	if _, ok := c.Parts().(*stepScript); !ok {
		return false
	}
	m := &matcher{text: c.String(), ok: true}
	m.WriteString(before)
	(&stepScript{token: token, steps: steps}).render(m)
	m.WriteString(after)
	return m.ok && m.n == len(m.text)
}

// writer is what render writes to: a strings.Builder, or a matcher.
type writer interface {
	WriteString(s string) (int, error)
	WriteByte(c byte) error
}

// matcher compares what is written to it with text, from the start.
type matcher struct {
	text string
	n    int  // how much of text was written
	ok   bool // and what was written matches it
}

func (m *matcher) WriteString(s string) (int, error) {
	if m.ok && strings.HasPrefix(m.text[m.n:], s) {
		m.n += len(s)
	} else {
		m.ok = false
	}
	return len(s), nil
}

func (m *matcher) WriteByte(c byte) error {
	if m.ok && m.n < len(m.text) && m.text[m.n] == c {
		m.n++
	} else {
		m.ok = false
	}
	return nil
}

// List returns the token and the steps of a command made with [Steps] or
// [Within], or "" and nil for any other command. Test backends use it to
// answer each step as a shell would.
func List(c shell.Command) (token string, list []Step) {
	s, ok := c.Parts().(*stepScript)
	if !ok {
		return "", nil
	}
	return s.token, append([]Step(nil), s.steps...)
}

// Marker returns what a script of steps prints, on standard output and on
// standard error, after step n (counted from 1) ended with status; step 0
// is the gate's stop, on standard output only.
func Marker(token string, n, status int) string {
	return MarkerPrefix(token) + strconv.Itoa(n) + " " + strconv.Itoa(status) + "\n"
}

// MarkerPrefix is the part of every marker of token before the step's
// number: a newline and "capstan-step:TOKEN ".
func MarkerPrefix(token string) string { return "\ncapstan-step:" + token + " " }

func (s *stepScript) render(b writer) {
	tok := shell.Quote(s.token)
	const printf = `printf '\n%s%s %s %s\n' capstan-step: `
	marker := func(n string) {
		b.WriteString(printf)
		b.WriteString(tok)
		b.WriteByte(' ')
		b.WriteString(n)
		b.WriteString(` "$capstan_s"`)
	}
	for _, st := range s.steps {
		if !st.Gate.IsZero() {
			b.WriteString("capstan_n='\n'\n") // a newline, for the gates
			break
		}
	}
	for _, st := range s.steps {
		if st.Keep != "" {
			b.WriteString(st.Keep)
			b.WriteString("=\n")
		}
	}
	awaits := slices.ContainsFunc(s.steps, func(st Step) bool { return st.Await })
	if awaits {
		// The go-ahead comes on fd 7; no step reads it by accident, and
		// those before the awaiting step do not have it at all.
		b.WriteString("exec 7<&0 </dev/null\n")
		if !s.steps[0].Await {
			b.WriteString("{\n")
		}
	}
	for i, st := range s.steps {
		c := st.Cmd
		if i > 0 {
			b.WriteByte('\n')
		}
		if st.Await {
			if i > 0 {
				b.WriteString("} 7<&-\n")
			}
			b.WriteString(`IFS= read -r capstan_a <&7; exec 7<&-; [ "$capstan_a" = `)
			b.WriteString(literal(GoLine(s.token)))
			b.WriteString(` ] || { capstan_s=0; ` + printf)
			b.WriteString(tok)
			b.WriteString(" 0 \"$capstan_s\"; exit 0; }\n")
		}
		gated, captured := !st.Gate.IsZero(), !st.Gate.IsZero() || st.Keep != ""
		switch {
		case captured:
			// Its output is kept (with its last newlines: the x) for the gate.
			b.WriteString("capstan_o=$( ")
			b.WriteString(st.text())
			b.WriteString("\ncapstan_s=$?; printf x; exit \"$capstan_s\" ); capstan_s=$?; capstan_o=${capstan_o%x}; printf '%s' \"$capstan_o\"; ")
			if st.Keep != "" {
				b.WriteString(st.Keep)
				b.WriteString(`=$capstan_o; `)
			}
		case c.Dir != "" || c.Name == "" && !c.IsZero():
			// Its cd (or whatever a raw script does) stays in a subshell.
			b.WriteString(c.Subshell())
			b.WriteByte('\n')
		default:
			b.WriteString(st.text())
			b.WriteByte('\n')
		}
		n := strconv.Itoa(i + 1)
		if !captured {
			b.WriteString(`capstan_s=$?; `)
		}
		marker(n)
		b.WriteString("; ")
		marker(n)
		b.WriteString(` >&2; [ "$capstan_s" -eq 0 ] || exit "$capstan_s"`)
		if gated {
			b.WriteByte('\n')
			b.WriteString(st.Gate.command(`{ ` + printf + tok + ` 0 "$capstan_s"; exit 0; }`))
		}
	}
}

// Splitter cuts a script's output stream at the markers of its steps,
// handing each step's part to Mark (n 0 is a gate's stop).
type Splitter struct {
	Prefix []byte // MarkerPrefix of the script's token
	Mark   func(n, status int, part []byte)
	// Max bounds what is kept of a step that never stops printing.
	Max int
	// Buf is what came after the last marker.
	Buf []byte
}

func (s *Splitter) Write(p []byte) (int, error) {
	s.Buf = append(s.Buf, p...)
	from := 0
	for {
		i := bytes.Index(s.Buf[from:], s.Prefix)
		if i < 0 {
			break
		}
		i += from
		rest := s.Buf[i+len(s.Prefix):]
		j := bytes.IndexByte(rest, '\n')
		if j < 0 {
			break
		}
		f := strings.Fields(string(rest[:j]))
		var n, status int
		var err1, err2 error
		if len(f) == 2 {
			n, err1 = strconv.Atoi(f[0])
			status, err2 = strconv.Atoi(f[1])
		}
		if len(f) != 2 || err1 != nil || err2 != nil {
			from = i + 1 // not a marker after all
			continue
		}
		s.Mark(n, status, append([]byte(nil), s.Buf[:i]...))
		s.Buf = append(s.Buf[:0:0], rest[j+1:]...)
		from = 0
	}
	if over := len(s.Buf) - s.Max; s.Max > 0 && over > 0 {
		// A step that never stops printing: keep what a marker needs.
		s.Buf = append(s.Buf[:0:0], s.Buf[len(s.Buf)-len(s.Prefix)-48:]...)
	}
	return len(p), nil
}

// markerPrintf starts the marker of a step in a script's text: the token
// and the step's number follow.
const markerPrintf = `printf '\n%s%s %s %s\n' capstan-step: `

// AnswerText answers the text of a script of steps as a shell would when
// every step succeeds and passes its gate: each step's output, as respond
// gives it for the step's text, then its marker on both streams. ok is
// false when text is not a script of steps.
func AnswerText(text string, respond func(step string) string) (stdout, stderr string, ok bool) {
	if !strings.Contains(text, markerPrintf) {
		return "", "", false
	}
	var out, errs, step strings.Builder
	for _, line := range strings.Split(text, "\n") {
		i := strings.Index(line, markerPrintf)
		if i < 0 {
			step.WriteString(line + "\n")
			continue
		}
		f := strings.Fields(line[i+len(markerPrintf):])
		if len(f) < 2 || f[1] == "0" {
			continue // a gate's stop: the answers pass every gate
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		marker := Marker(strings.Trim(f[0], "'"), n, 0)
		out.WriteString(respond(step.String()) + marker)
		errs.WriteString(marker)
		step.Reset()
	}
	return out.String(), errs.String(), true
}
