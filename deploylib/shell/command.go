package shell

import (
	"sort"
	"strings"
)

// Command is one shell command as a value: a program with its arguments, an
// optional working directory and environment, an optional redirection of its
// standard streams, and optionally more commands chained to it with
// operators such as && and |.
//
// The zero Command renders as the empty string. Commands are immutable:
// every method returns a modified copy.
type Command struct {
	// Name is the program to run. It is quoted like every argument.
	Name string
	// Args are the program's arguments, each quoted on its own.
	Args []string
	// Dir, when set, is the directory the command runs in ("cd Dir && ...").
	Dir string
	// Env holds environment variables exported for the command.
	Env map[string]string

	raw      string // a script given on purpose, never quoted
	login    bool   // raw is written for the login shell (Raw)
	parts    any    // what a Script was made of (Parts)
	shown    string // what people are shown instead (Shown)
	covers   int    // how many links of next shown covers
	negate   bool
	redirect []string // already rendered redirections, such as "2>/dev/null"
	next     []link
}

type link struct {
	op  string
	cmd Command
}

// New returns the command name with args.
func New(name string, args ...string) Command {
	return Command{Name: name, Args: args}
}

// Raw returns a command made of script exactly as given, for an operator's
// ad-hoc command line (mage production run "uptime") or a team's shell
// line. Script is handed to the shell unquoted, so it must never contain
// input the operator did not type. Directory and environment still wrap it
// as usual. The script is written for the login shell of the user it runs
// as (bash, zsh, ...), and backends run it with that shell, as sshd runs a
// command ([Command.NeedsLoginShell]).
func Raw(script string) Command {
	return Command{raw: script, login: true}
}

// POSIX returns a command made of script exactly as given, as [Raw] does,
// for a script in the POSIX shell language that every sh runs alike, such
// as Capstan's own: a backend may run it with /bin/sh rather than the
// user's login shell, which on most servers starts and forks faster (dash
// against bash). Script must never contain input its author did not write.
func POSIX(script string) Command {
	return Command{raw: script}
}

// Script returns a command made of text exactly as given, as [POSIX] does,
// carrying parts: what its builder made it of (the planner's script of
// steps), for test backends that answer it part by part ([Command.Parts]).
// A builder whose text holds a [Raw] script says so with
// [Command.ForLoginShell].
func Script(text string, parts any) Command {
	return Command{raw: text, parts: parts}
}

// ForLoginShell returns c to be run with the user's login shell, as a
// [Raw] script is: for a [Script] whose text holds one.
func (c Command) ForLoginShell() Command {
	c.login = true
	return c
}

// NeedsLoginShell reports whether c, or a command chained to it, holds a
// script written for the user's login shell ([Raw], [Command.ForLoginShell]).
// Any other command is rendered by this package for every POSIX sh: the
// same programs with the same arguments, whichever shell reads it.
func (c Command) NeedsLoginShell() bool {
	if c.login {
		return true
	}
	for _, l := range c.next {
		if l.cmd.NeedsLoginShell() {
			return true
		}
	}
	return false
}

// Parts returns what [Script] attached to c, nil for any other command.
func (c Command) Parts() any { return c.parts }

// In returns c run in dir.
func (c Command) In(dir string) Command {
	c.Dir = dir
	return c
}

// WithEnv returns c with the variable key set to value. Keys must be valid
// shell variable names; see [ValidEnvKey].
func (c Command) WithEnv(key, value string) Command {
	env := make(map[string]string, len(c.Env)+1)
	for k, v := range c.Env {
		env[k] = v
	}
	env[key] = value
	c.Env = env
	return c
}

// And returns "c && d": d runs only if c succeeds.
func (c Command) And(d Command) Command { return c.chain("&&", d) }

// Or returns "c || d": d runs only if c fails.
func (c Command) Or(d Command) Command { return c.chain("||", d) }

// Then returns "c ; d": d runs after c whatever c's status.
func (c Command) Then(d Command) Command { return c.chain(";", d) }

// Pipe returns "c | d": c's standard output is d's standard input.
func (c Command) Pipe(d Command) Command { return c.chain("|", d) }

func (c Command) chain(op string, d Command) Command {
	next := make([]link, len(c.next), len(c.next)+1)
	copy(next, c.next)
	c.next = append(next, link{op: op, cmd: d})
	return c
}

// Shown returns c with display as what people are shown of it: the
// principal command as a person would write it (ln -s RELEASE current),
// without the guards, fences and plumbing around it. It covers c as built
// so far; commands chained to it later add their own. String still renders
// everything that runs, for the log.
func (c Command) Shown(display string) Command {
	c.shown, c.covers = display, len(c.next)
	return c
}

// Display returns what people are shown of c: the displays set with Shown
// in c and in the commands chained to it, joined by " && ", leaving out
// the parts that have none; c's String when no part has one.
func (c Command) Display() string {
	if !c.HasDisplay() {
		return c.String()
	}
	var parts []string
	rest := c.next
	if c.shown != "" {
		parts = append(parts, c.shown)
		rest = c.next[c.covers:]
	}
	for _, l := range rest {
		if l.cmd.HasDisplay() {
			parts = append(parts, l.cmd.Display())
		}
	}
	return strings.Join(parts, " && ")
}

// HasDisplay reports whether c or a command chained to it was given a
// display with Shown.
func (c Command) HasDisplay() bool {
	if c.shown != "" {
		return true
	}
	for _, l := range c.next {
		if l.cmd.HasDisplay() {
			return true
		}
	}
	return false
}

// Not returns "! c": a command that succeeds when c fails. It applies to
// the first command of a chain only.
func (c Command) Not() Command {
	c.negate = !c.negate
	return c
}

// WriteTo returns c with its standard output written to file ("> file").
func (c Command) WriteTo(file string) Command { return c.redir(">", file) }

// AppendTo returns c with its standard output appended to file (">> file").
func (c Command) AppendTo(file string) Command { return c.redir(">>", file) }

// ReadFrom returns c with its standard input read from file ("< file").
func (c Command) ReadFrom(file string) Command { return c.redir("<", file) }

// Quiet returns c with its standard error discarded ("2>/dev/null").
func (c Command) Quiet() Command {
	c.redirect = append(c.redirect[:len(c.redirect):len(c.redirect)], "2>/dev/null")
	return c
}

// ToStderr returns c with its standard output sent to standard error
// ("1>&2").
func (c Command) ToStderr() Command {
	c.redirect = append(c.redirect[:len(c.redirect):len(c.redirect)], "1>&2")
	return c
}

// StderrToStdout returns c with its standard error sent to its standard
// output ("2>&1").
func (c Command) StderrToStdout() Command {
	c.redirect = append(c.redirect[:len(c.redirect):len(c.redirect)], "2>&1")
	return c
}

func (c Command) redir(op, file string) Command {
	c.redirect = append(c.redirect[:len(c.redirect):len(c.redirect)], op+" "+Quote(file))
	return c
}

// IsZero reports whether c is the zero Command.
func (c Command) IsZero() bool {
	return c.Name == "" && c.raw == "" && len(c.next) == 0
}

// String renders c as one shell string: "cd DIR && ( export K=V ; BODY )",
// leaving out the parts that are not set. Every name, argument, directory,
// file and value passes through [Quote]; environment keys are sorted.
func (c Command) String() string {
	if c.parts != nil && c.Dir == "" && len(c.Env) == 0 && !c.negate && len(c.redirect) == 0 && len(c.next) == 0 {
		return c.raw // a Script: rendered once, by its builder
	}
	var b strings.Builder
	b.Grow(c.sizeHint())
	c.render(&b)
	return b.String()
}

// Subshell renders c to run in a subshell of its own, for a script that
// must keep c's directory, environment and whatever its raw script does
// from the commands after it: "( cd DIR && { export K=V ; BODY; } )", one
// process where String's rendering in parentheses would start two.
func (c Command) Subshell() string {
	var b strings.Builder
	b.Grow(c.sizeHint() + 4)
	b.WriteString("( ")
	c.renderGroup(&b, true)
	b.WriteString(" )")
	return b.String()
}

// sizeHint estimates the length of c rendered, quotes left out, so that
// String allocates once for most commands.
func (c Command) sizeHint() int {
	n := len(c.Dir) + len(c.raw) + len(c.Name) + 16
	for _, a := range c.Args {
		n += len(a) + 3
	}
	for k, v := range c.Env {
		n += len(k) + len(v) + 4
	}
	for _, r := range c.redirect {
		n += len(r) + 1
	}
	for _, l := range c.next {
		n += len(l.op) + 6 + l.cmd.sizeHint()
	}
	return n
}

func (c Command) render(b *strings.Builder) { c.renderGroup(b, false) }

// renderGroup renders c; own tells that c runs in a subshell of its own
// already (renderOperand's), so that its directory and environment need no
// second one: a group of c's own is then a brace group, which starts no
// process.
func (c Command) renderGroup(b *strings.Builder, own bool) {
	if c.Dir != "" {
		b.WriteString("cd ")
		writeQuote(b, c.Dir)
		b.WriteString(" && ")
	}
	grouped := len(c.Env) > 0 || (c.Dir != "" && (len(c.next) > 0 || c.raw != ""))
	open, closing := "( ", " )"
	if own && (c.raw == "" || len(c.next) > 0) {
		// A raw script may end in & or a comment, which "; }" would not
		// survive: one that ends the group keeps its subshell (a raw
		// operand after it has one of its own).
		open, closing = "{ ", "; }"
	}
	if grouped {
		b.WriteString(open)
	}
	if len(c.Env) > 0 {
		b.WriteString("export")
		for _, k := range sortedKeys(c.Env) {
			b.WriteByte(' ')
			// A key that is not a valid name is quoted too, so export
			// rejects it instead of the shell reading it.
			writeQuote(b, k)
			b.WriteByte('=')
			writeQuote(b, c.Env[k])
		}
		b.WriteString(" ; ")
	}
	c.renderSimple(b)
	for _, l := range c.next {
		b.WriteByte(' ')
		b.WriteString(l.op)
		b.WriteByte(' ')
		l.cmd.renderOperand(b)
	}
	if grouped {
		b.WriteString(closing)
	}
}

// renderOperand renders a command that stands on one side of an operator.
// A chain that leaves the shell as it was runs as a brace group, in the
// shell itself; a command with its own directory, environment or raw script,
// or a chain with a builtin that changes the shell (cd, exit, export, ...),
// runs in a subshell, so that nothing it does reaches the commands after it.
// Every subshell costs the host a fork.
func (c Command) renderOperand(b *strings.Builder) {
	switch {
	case c.Dir == "" && len(c.Env) == 0 && len(c.next) == 0 && c.raw == "":
		c.renderSimple(b)
		return
	case c.Dir == "" && len(c.Env) > 0:
		c.render(b) // already a group of its own
		return
	case c.Dir == "" && c.raw == "" && c.keepsShell():
		b.WriteString("{ ")
		c.render(b)
		b.WriteString("; }")
		return
	}
	b.WriteString("( ")
	c.renderGroup(b, true)
	b.WriteString(" )")
}

// keepsShell reports whether running c in the current shell leaves that
// shell as it was: every command of its chain is a program, or a builtin
// that changes nothing in the shell running it (test, echo, printf without
// -v, true, false), or an operand that runs in a subshell of its own.
func (c Command) keepsShell() bool {
	if c.raw != "" || changesShell[c.Name] || c.Name == "printf" && len(c.Args) > 0 && strings.HasPrefix(c.Args[0], "-v") {
		return false
	}
	for _, l := range c.next {
		d := l.cmd
		if d.Dir != "" || len(d.Env) > 0 || d.raw != "" {
			continue // renderOperand gives it a subshell
		}
		if !d.keepsShell() {
			return false
		}
	}
	return true
}

// changesShell are the builtins of POSIX shells, bash, ksh and zsh that can
// change the shell that runs them (its directory, variables, options,
// traps, input, flow) or replace it.
var changesShell = map[string]bool{
	"": true, ".": true, "alias": true, "bg": true, "bind": true, "break": true, "builtin": true,
	"caller": true, "cd": true, "chdir": true, "command": true, "compgen": true, "complete": true,
	"compopt": true, "continue": true, "declare": true, "dirs": true, "disown": true, "emulate": true,
	"enable": true, "eval": true, "exec": true, "exit": true, "export": true, "fc": true, "fg": true,
	"getopts": true, "hash": true, "history": true, "integer": true, "jobs": true, "let": true,
	"local": true, "logout": true, "mapfile": true, "newgrp": true, "popd": true, "pushd": true, "read": true,
	"readarray": true, "readonly": true, "return": true, "set": true, "setopt": true, "shift": true,
	"shopt": true, "source": true, "suspend": true, "trap": true, "typeset": true, "ulimit": true,
	"umask": true, "unalias": true, "unset": true, "unsetopt": true, "wait": true,
}

func (c Command) renderSimple(b *strings.Builder) {
	if c.negate {
		b.WriteString("! ")
	}
	if c.raw != "" {
		b.WriteString(c.raw)
	} else {
		b.WriteString(QuoteName(c.Name))
		for _, a := range c.Args {
			b.WriteByte(' ')
			writeQuote(b, a)
		}
	}
	for _, r := range c.redirect {
		b.WriteByte(' ')
		b.WriteString(r)
	}
}

// QuoteName returns name quoted for the command position of a simple
// command: like [Quote], and also in single quotes when the shell would
// otherwise read it as a variable assignment ("A=B") or a reserved word
// ("if", "then", "!"), so that the name is always the program to run.
func QuoteName(name string) string {
	q := Quote(name)
	if q != name {
		return q
	}
	if reserved[name] {
		return "'" + name + "'"
	}
	if i := strings.IndexByte(name, '='); i > 0 && ValidEnvKey(name[:i]) {
		return "'" + name + "'"
	}
	return name
}

// reserved are the words that POSIX shells, bash, ksh and zsh read as
// syntax in command position; those with characters outside Quote's safe
// set ("!", "{", "[[") are quoted already.
var reserved = map[string]bool{
	"case": true, "do": true, "done": true, "elif": true, "else": true, "esac": true,
	"fi": true, "for": true, "if": true, "in": true, "then": true, "until": true,
	"while": true, "function": true, "select": true, "time": true, "coproc": true,
	"foreach": true, "repeat": true, "end": true, "nocorrect": true, "noglob": true,
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ValidEnvKey reports whether key can name a shell variable: a letter or
// underscore followed by letters, digits and underscores.
func ValidEnvKey(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
