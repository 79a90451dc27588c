package capconv

import (
	"fmt"
	gotoken "go/token"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// gen writes the Go of task bodies. Every Ruby string becomes a Go
// literal through strconv.Quote, and every value that reaches a shell
// line through shell.Quote, so no input can break the Go or the remote
// command beyond what the Ruby did.
type gen struct {
	c       *converter
	file    string
	b       strings.Builder
	depth   int
	imports map[string]bool
	helpers map[string]bool
	n       int
	task    *task
}

// scope is what a statement sees: the Go variable of the host (inside
// on), the directory of within, the Ruby locals.
type scope struct {
	host      string // Go variable of the current *deploylib.Host; "" outside on
	base      string // Go variable of the host of on, without within/with/as
	hostParam string // the Ruby block parameter naming the host
	dir       string // Go expression of the within directory
	wrapped   bool   // within, with or as is in effect
	locals    map[string]*local
	parent    *scope
}

type local struct {
	goName string
	used   bool
}

func (s *scope) child() *scope {
	return &scope{host: s.host, base: s.base, hostParam: s.hostParam, dir: s.dir, wrapped: s.wrapped, parent: s, locals: map[string]*local{}}
}

func (s *scope) lookup(name string) *local {
	for x := s; x != nil; x = x.parent {
		if l := x.locals[name]; l != nil {
			return l
		}
	}
	return nil
}

func (g *gen) line(format string, args ...any) {
	g.b.WriteString(strings.Repeat("\t", g.depth))
	fmt.Fprintf(&g.b, format, args...)
	g.b.WriteByte('\n')
}

func (g *gen) use(pkg string) { g.imports[pkg] = true }

func (g *gen) fresh(base string) string {
	g.n++
	return fmt.Sprintf("%s%d", base, g.n)
}

// todo keeps s as a comment with the reason, and notes it.
func (g *gen) todo(s stmt, why string) {
	g.c.noteOnly(g.file, s.line, why) // the comment is kept here, in place
	g.comment(s, why)
}

func (g *gen) comment(s stmt, why string) {
	g.line("// TODO(capstan-init): %s:%d: %s", g.file, s.line, oneLine(why))
	for _, l := range strings.Split(dedent(s.src), "\n") {
		g.line("//\t%s", commentSafe(l))
	}
}

// commentSafe keeps a Ruby line inside one Go line comment: line
// breaks become spaces, and what Go source may not hold (NUL, a byte
// order mark, invalid UTF-8) and other control characters are written
// as escapes.
func commentSafe(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case r == '\r' || r == '\n' || r == '\u2028' || r == '\u2029' || r == '\u0085' || r == '\v' || r == '\f':
			b.WriteByte(' ')
		case r == '\t':
			b.WriteByte('\t')
		case r == '\ufeff' || unicode.IsControl(r):
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func oneLine(s string) string { return commentSafe(s) }

func dedent(src string) string {
	lines := strings.Split(src, "\n")
	return strings.Join(squish(lines), "\n")
}

// taskFunc writes the function of task t.
func (g *gen) taskFunc(t *task) {
	g.task = t
	g.line("// %s is the body of the Capistrano task %s (%s:%d).", t.goFunc, commentSafe(t.name), t.file, t.line)
	g.line("func %s(ctx context.Context) error {", t.goFunc)
	g.depth++
	sc := &scope{locals: map[string]*local{}}
	g.stmts(t.body, sc)
	g.unused(sc)
	g.line("return nil")
	g.depth--
	g.line("}")
	g.use("context")
}

func (g *gen) unused(sc *scope) {
	for _, k := range sortedKeys(sc.locals) {
		if l := sc.locals[k]; !l.used {
			g.line("_ = %s", l.goName)
		}
	}
}

func (g *gen) stmts(body []stmt, sc *scope) {
	for _, s := range body {
		g.stmt(s, sc)
	}
}

func (g *gen) stmt(s stmt, sc *scope) {
	if s.unknown != "" {
		g.todo(s, "not translated: "+s.unknown)
		return
	}
	if s.isCond {
		g.ifStmt(s, sc)
		return
	}
	if s.assign != "" {
		g.assign(s, sc)
		return
	}
	if s.call == nil {
		g.todo(s, "not translated: an expression without a command")
		return
	}
	call := s.call
	if call.recv != nil {
		if t, ok := rakeTaskCall(call); ok {
			g.invoke(s, sc, t, call.name == "invoke!" || call.name == "execute")
			return
		}
		g.todo(s, "not translated: a method call on a value")
		return
	}
	switch call.name {
	case "on":
		g.on(s, sc)
		return
	case "invoke", "invoke!":
		name, ok := symName(firstArg(call))
		if !ok || len(call.args) != 1 {
			g.todo(s, "invoke with arguments or a computed name")
			return
		}
		g.invoke(s, sc, name, call.name == "invoke!")
		return
	case "info", "debug", "warn", "error", "fatal", "puts", "log":
		if len(call.args) != 1 {
			g.todo(s, call.name+" with more than one argument")
			return
		}
		v, err := g.value(call.args[0], sc)
		if err != nil {
			g.todo(s, call.name+": "+err.Error())
			return
		}
		g.line("deploylib.Logf(ctx, \"%%s\", %s)", v)
		return
	case "run_locally":
		g.todo(s, "run_locally runs commands on this machine: write them with os/exec in the task")
		return
	case "set", "append", "ask", "fetch":
		g.todo(s, call.name+" inside a task changes configuration while cap runs; Capstan's configuration is fixed when the run starts")
		return
	}
	if sc.host == "" {
		switch call.name {
		case "within", "with", "as", "execute", "test", "capture", "upload!", "download!":
			g.todo(s, call.name+" outside an on block: which hosts it runs on is not known")
			return
		}
	} else {
		switch call.name {
		case "within", "with", "as":
			g.wrap(s, sc)
			return
		case "execute":
			g.execute(s, sc)
			return
		case "upload!":
			g.upload(s, sc)
			return
		case "test", "capture":
			g.todo(s, call.name+" whose result is not used")
			return
		}
	}
	g.todo(s, "not translated: "+call.name+" is not part of the Capistrano DSL the converter reads")
}

// rakeTaskCall reads Rake::Task["x"].invoke.
func rakeTaskCall(c *callExpr) (string, bool) {
	ix, ok := c.recv.(*indexExpr)
	if !ok || len(c.args) != 0 || c.block != nil {
		return "", false
	}
	cn, ok := ix.recv.(*constExpr)
	if !ok || cn.name != "Rake::Task" || c.name != "invoke" && c.name != "invoke!" && c.name != "execute" {
		return "", false
	}
	return symName(ix.key)
}

func (g *gen) invoke(s stmt, sc *scope, name string, again bool) {
	if sc.host != "" {
		g.todo(s, "invoke inside an on block runs the task once per host in Capistrano; move it out of the block")
		return
	}
	ref, ok := g.taskRef(name, g.task.scope)
	if !ok {
		g.todo(s, "invoke of "+name+", which is neither one of the project's tasks nor a standard one")
		return
	}
	fn := "Invoke"
	if again {
		fn = "Reinvoke"
	}
	g.line("if err := deploylib.%s(ctx, %s); err != nil {", fn, ref)
	g.line("\treturn err")
	g.line("}")
}

// taskRef is the Go expression of a task name.
func (g *gen) taskRef(name string, scope []string) (string, bool) {
	t, std, ok := g.c.resolve(name, scope)
	switch {
	case !ok:
		return "", false
	case t != nil:
		return t.goVar, true
	}
	return "deploylib." + std, true
}

// on writes deploylib.On.
func (g *gen) on(s stmt, sc *scope) {
	call := s.call
	if sc.host != "" {
		g.todo(s, "on inside an on block")
		return
	}
	if call.block == nil || len(call.args) == 0 {
		g.todo(s, "on without hosts or a block")
		return
	}
	sel, err := selector(call.args[0])
	if err != nil {
		g.todo(s, "on: "+err.Error())
		return
	}
	var opts []string
	for _, a := range call.args[1:] {
		h, ok := a.(*hashExpr)
		if !ok {
			g.todo(s, "on: only roles(...) or primary(...) and options are translated")
			return
		}
		o, err := onOptions(h)
		if err != nil {
			g.todo(s, "on: "+err.Error())
			return
		}
		if o != "" {
			opts = append(opts, o)
			if strings.Contains(o, "time.") {
				g.use("time")
			}
		}
	}
	inner := sc.child()
	inner.host, inner.base = "h", "h"
	if len(call.block.params) > 0 {
		inner.hostParam = call.block.params[0]
	}
	optStr := ""
	if len(opts) > 0 {
		optStr = ", " + strings.Join(opts, ", ")
	}
	g.line("if err := deploylib.On(ctx, %s, func(ctx context.Context, h *deploylib.Host) error {", sel)
	g.depth++
	g.stmts(call.block.body, inner)
	g.unused(inner)
	g.line("return nil")
	g.depth--
	g.line("}%s); err != nil {", optStr)
	g.line("\treturn err")
	g.line("}")
}

func selector(e expr) (string, error) {
	c, ok := e.(*callExpr)
	if !ok {
		return "", fmt.Errorf("only roles(...), release_roles(:all) and primary(...) select hosts")
	}
	first := false
	if c.recv != nil && c.name == "first" && len(c.args) == 0 {
		inner, ok := c.recv.(*callExpr)
		if !ok {
			return "", fmt.Errorf("unsupported host selector")
		}
		c, first = inner, true
	}
	if c.recv != nil {
		return "", fmt.Errorf("unsupported host selector")
	}
	var roles []string
	for _, a := range c.args {
		switch x := a.(type) {
		case *arrayExpr:
			for _, el := range x.elems {
				n, ok := symName(el)
				if !ok {
					return "", fmt.Errorf("a role that is not a name")
				}
				roles = append(roles, n)
			}
		case *hashExpr:
			return "", fmt.Errorf("role filters (%s with options) are not translated", c.name)
		default:
			n, ok := symName(a)
			if !ok {
				return "", fmt.Errorf("a role that is not a name")
			}
			roles = append(roles, n)
		}
	}
	switch {
	case c.name == "primary" && len(roles) == 1, c.name == "roles" && first && len(roles) == 1:
		return "deploylib.Primary(" + strconv.Quote(roles[0]) + ")", nil
	case first:
		return "", fmt.Errorf(".first of several roles")
	case c.name == "roles" && len(roles) == 1 && roles[0] == "all":
		return "deploylib.All()", nil
	case c.name == "release_roles" && len(roles) == 1 && roles[0] == "all":
		return "deploylib.ReleaseHosts()", nil
	case c.name == "roles" && len(roles) > 0:
		var q []string
		for _, r := range roles {
			q = append(q, strconv.Quote(r))
		}
		return "deploylib.Roles(" + strings.Join(q, ", ") + ")", nil
	}
	return "", fmt.Errorf("only roles(...), release_roles(:all) and primary(...) select hosts")
}

func onOptions(h *hashExpr) (string, error) {
	mode, limit, wait := "parallel", "", "0"
	for _, p := range h.pairs {
		k, _ := symName(p.key)
		switch k {
		case "in":
			m, ok := symName(p.val)
			if !ok {
				return "", fmt.Errorf("in: is not a name")
			}
			mode = m
		case "limit":
			n, ok := p.val.(*numExpr)
			if !ok {
				return "", fmt.Errorf("limit: is not a number")
			}
			limit = n.text
		case "wait":
			n, ok := p.val.(*numExpr)
			if !ok {
				return "", fmt.Errorf("wait: is not a number")
			}
			wait = n.text
		default:
			return "", fmt.Errorf("option %s: is not translated", k)
		}
	}
	w := "0"
	if wait != "0" {
		if strings.Contains(wait, ".") {
			w = "time.Duration(" + wait + " * float64(time.Second))"
		} else {
			w = wait + " * time.Second"
		}
	}
	switch mode {
	case "parallel":
		return "", nil
	case "sequence":
		return "deploylib.InSequence(" + w + ")", nil
	case "groups":
		if limit == "" {
			limit = "2" // SSHKit's default group size
		}
		return "deploylib.InGroups(" + limit + ", " + w + ")", nil
	}
	return "", fmt.Errorf("in: :%s is not translated", mode)
}

// wrap writes within, with and as as a Go block with a narrowed host.
func (g *gen) wrap(s stmt, sc *scope) {
	call := s.call
	if call.block == nil || len(call.args) == 0 {
		g.todo(s, call.name+" without a block")
		return
	}
	inner := sc.child()
	inner.wrapped = true
	var hexpr string
	switch call.name {
	case "within":
		if len(call.args) != 1 {
			g.todo(s, "within with more than one directory")
			return
		}
		dir, err := g.value(call.args[0], sc)
		if err != nil {
			g.todo(s, "within: "+err.Error())
			return
		}
		// SSHKit joins a relative directory to the one it is within.
		if str, ok := call.args[0].(*strExpr); ok && sc.dir != "" {
			if lit, ok := plainString(str); ok && !strings.HasPrefix(lit, "/") {
				g.use("path")
				dir = "path.Join(" + sc.dir + ", " + dir + ")"
			}
		}
		g.line("{")
		g.depth++
		inner.dir = dir
		hexpr = sc.host + ".Within(" + dir + ")"
	case "with":
		h, ok := call.args[0].(*hashExpr)
		if !ok || len(call.args) != 1 {
			g.todo(s, "with: expected name: value pairs")
			return
		}
		hexpr = sc.host
		for _, p := range h.pairs {
			k, ok := symName(p.key)
			if !ok {
				g.todo(s, "with: a name that is not a symbol")
				return
			}
			name := strings.ToUpper(k)
			if g.secretName(p.val) == name {
				// The deployer's variable, under its own name.
				hexpr += ".WithSecretFromEnv(" + strconv.Quote(name) + ")"
				continue
			}
			if sec, ok := g.secretOf(p.val, sc); ok {
				hexpr += ".WithSecretEnv(" + strconv.Quote(name) + ", " + sec + ")"
				continue
			}
			v, err := g.value(p.val, sc)
			if err != nil {
				g.todo(s, "with :"+k+": "+err.Error())
				return
			}
			hexpr += ".WithEnv(" + strconv.Quote(name) + ", " + v + ")"
		}
		g.line("{")
		g.depth++
	case "as":
		var user expr
		switch a := call.args[0].(type) {
		case *hashExpr:
			for _, p := range a.pairs {
				k, _ := symName(p.key)
				switch k {
				case "user":
					user = p.val
				default:
					g.todo(s, "as: only user: is translated (Capstan's As runs as a user, with its own group)")
					return
				}
			}
		default:
			user = a
		}
		u, err := g.value(user, sc)
		if err != nil {
			g.todo(s, "as: "+err.Error())
			return
		}
		g.line("{")
		g.depth++
		hexpr = sc.host + ".As(" + u + ")"
	}
	hv := g.fresh("h")
	g.line("%s := %s", hv, hexpr)
	mark := g.b.Len()
	inner.host = hv
	g.stmts(call.block.body, inner)
	g.unused(inner)
	if !regexp.MustCompile(`\b` + hv + `\b`).MatchString(g.b.String()[mark:]) {
		g.line("_ = %s // nothing above was translated", hv)
	}
	g.depth--
	g.line("}")
}

// command is the Go call that runs a command's arguments: Execute-style
// arguments, or one shell line as SSHKit runs a string with spaces.
type command struct {
	name string   // Go expression of the program; "" for a shell line
	args []string // Go expressions
	line string   // Go expression of the shell line
}

// call is the Go call of cmd on the host of sc: a shell line runs on the
// host of on itself, as SSHKit ignores within, with and as for it, with
// Host.Sh and Host.CaptureSh.
func (g *gen) call(cmd command, sc *scope, method string) string {
	h := sc.host
	if cmd.name == "" {
		h = sc.base
		switch method {
		case "Execute":
			return h + ".Sh(ctx, " + cmd.line + ")"
		case "Capture":
			return h + ".CaptureSh(ctx, " + cmd.line + ")"
		}
		g.use("shell")
		return h + "." + method + "Command(ctx, shell.Raw(" + cmd.line + "))"
	}
	parts := append([]string{"ctx", cmd.name}, cmd.args...)
	return h + "." + method + "(" + strings.Join(parts, ", ") + ")"
}

// commandArgs reads execute/test/capture arguments.
func (g *gen) commandArgs(s stmt, args []expr, sc *scope) (command, *hashExpr, error) {
	var opts *hashExpr
	if n := len(args); n > 0 {
		if h, ok := args[n-1].(*hashExpr); ok {
			opts, args = h, args[:n-1]
		}
	}
	if len(args) == 0 {
		return command{}, nil, fmt.Errorf("no command")
	}
	if str, ok := args[0].(*strExpr); ok && hasSpace(str) {
		// SSHKit runs a string with spaces as it is, through the shell,
		// joined to any further arguments.
		var parts []string
		for i, a := range args {
			if i > 0 {
				parts = append(parts, `" "`)
			}
			p, err := g.shellWords(a, sc)
			if err != nil {
				return command{}, nil, err
			}
			parts = append(parts, p)
		}
		if sc.wrapped {
			g.c.noteOnly(g.file, s.line, "SSHKit runs a command string with spaces without the within, with and as around it, and so does the Go: use "+sc.host+" instead of "+sc.base+" there if the line should run inside them")
			g.line("// NOTE(capstan-init): %s:%d: SSHKit runs a command string with spaces without the", g.file, s.line)
			g.line("// within/with/as around it, and so does this line (%s); %s runs inside them.", sc.base, sc.host)
		}
		return command{line: joinConcat(parts)}, opts, nil
	}
	var out command
	for i, a := range args {
		v, err := g.value(a, sc)
		if err != nil {
			return command{}, nil, err
		}
		if i == 0 {
			out.name = v
			continue
		}
		if str, ok := a.(*strExpr); ok && shellSyntax(str) {
			g.c.noteOnly(g.file, s.line, "an argument holds shell syntax ($, `, ;, |, >, quotes, spaces...): SSHKit handed it to the remote shell unquoted, Capstan passes it as one quoted word")
		}
		out.args = append(out.args, v)
	}
	return out, opts, nil
}

func joinConcat(parts []string) string {
	// Merge adjacent literals for readability.
	var out []string
	for _, p := range parts {
		if n := len(out); n > 0 && isQuoted(out[n-1]) && isQuoted(p) {
			a, _ := strconv.Unquote(out[n-1])
			b, _ := strconv.Unquote(p)
			out[n-1] = strconv.Quote(a + b)
			continue
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return `""`
	}
	return strings.Join(out, " + ")
}

func isQuoted(s string) bool {
	if !strings.HasPrefix(s, `"`) {
		return false
	}
	_, err := strconv.Unquote(s)
	return err == nil
}

func hasSpace(s *strExpr) bool {
	for _, p := range s.parts {
		if p.expr == nil && strings.ContainsAny(p.lit, " \t\n") {
			return true
		}
	}
	return false
}

func shellSyntax(s *strExpr) bool {
	for _, p := range s.parts {
		if p.expr == nil && strings.ContainsAny(p.lit, " \t\n$`;|&<>()'\"\\*?[]{}~#") {
			return true
		}
	}
	return false
}

// shellWords is a string as part of a shell line: its literal text as
// written, each interpolated value shell-quoted.
func (g *gen) shellWords(e expr, sc *scope) (string, error) {
	str, ok := e.(*strExpr)
	if !ok {
		if sym, ok := e.(*symExpr); ok {
			return strconv.Quote(sym.name), nil
		}
		v, err := g.value(e, sc)
		if err != nil {
			return "", err
		}
		g.use("shell")
		return "shell.Quote(" + v + ")", nil
	}
	var parts []string
	for _, p := range str.parts {
		if p.expr == nil {
			parts = append(parts, strconv.Quote(p.lit))
			continue
		}
		v, err := g.value(p.expr, sc)
		if err != nil {
			return "", err
		}
		g.use("shell")
		parts = append(parts, "shell.Quote("+v+")")
	}
	return joinConcat(parts), nil
}

func (g *gen) execute(s stmt, sc *scope) {
	cmd, opts, err := g.commandArgs(s, s.call.args, sc)
	if err != nil {
		g.todo(s, "execute: "+err.Error())
		return
	}
	method := "Execute"
	if opts != nil {
		for _, p := range opts.pairs {
			k, _ := symName(p.key)
			switch k {
			case "raise_on_non_zero_exit":
				if b, ok := p.val.(*boolExpr); ok && !b.v {
					method = "Test"
					continue
				}
				g.todo(s, "execute: raise_on_non_zero_exit: only false is translated")
				return
			case "verbosity", "strip":
			default:
				g.todo(s, "execute: option "+k+": is not translated")
				return
			}
		}
	}
	if method == "Test" {
		g.line("if _, err := %s; err != nil {", g.call(cmd, sc, "Test"))
	} else {
		g.line("if err := %s; err != nil {", g.call(cmd, sc, "Execute"))
	}
	g.line("\treturn err")
	g.line("}")
}

func (g *gen) upload(s stmt, sc *scope) {
	args := s.call.args
	if n := len(args); n > 0 {
		if _, ok := args[n-1].(*hashExpr); ok {
			g.todo(s, "upload! with options")
			return
		}
	}
	if len(args) != 2 {
		g.todo(s, "upload! needs a source and a destination")
		return
	}
	dst, err := g.value(args[1], sc)
	if err != nil {
		g.todo(s, "upload!: "+err.Error())
		return
	}
	if c, ok := args[0].(*callExpr); ok && c.name == "new" && len(c.args) == 1 {
		if cn, ok := c.recv.(*constExpr); ok && cn.name == "StringIO" {
			content, err := g.value(c.args[0], sc)
			if err != nil {
				g.todo(s, "upload!: "+err.Error())
				return
			}
			g.helpers["uploadString"] = true
			g.line("if err := uploadString(ctx, %s, %s, %s); err != nil {", sc.host, content, dst)
			g.line("\treturn err")
			g.line("}")
			return
		}
	}
	src, err := g.value(args[0], sc)
	if err != nil {
		g.todo(s, "upload!: "+err.Error())
		return
	}
	g.helpers["uploadFile"] = true
	g.line("if err := uploadFile(ctx, %s, %s, %s); err != nil {", sc.host, src, dst)
	g.line("\treturn err")
	g.line("}")
}

// assign writes x = capture(...).
func (g *gen) assign(s stmt, sc *scope) {
	c, ok := s.value.(*callExpr)
	if !ok || c.recv != nil || c.name != "capture" || sc.host == "" {
		if v, err := g.value(s.value, sc); err == nil {
			g.declare(s.assign, v, sc)
			return
		}
		g.todo(s, "an assignment the converter does not read (only x = capture(...) on a host, or a string)")
		return
	}
	cmd, opts, err := g.commandArgs(s, c.args, sc)
	if err != nil || opts != nil {
		if err == nil {
			err = fmt.Errorf("options are not translated")
		}
		g.todo(s, "capture: "+err.Error())
		return
	}
	if l := sc.lookup(s.assign); l != nil {
		v := g.fresh("out")
		g.line("%s, err := %s", v, g.call(cmd, sc, "Capture"))
		g.line("if err != nil {")
		g.line("\treturn err")
		g.line("}")
		g.line("%s = %s", l.goName, v)
		return
	}
	name := goLocal(s.assign)
	sc.locals[s.assign] = &local{goName: name}
	g.line("%s, err := %s", name, g.call(cmd, sc, "Capture"))
	g.line("if err != nil {")
	g.line("\treturn err")
	g.line("}")
}

func (g *gen) declare(name, v string, sc *scope) {
	if l := sc.lookup(name); l != nil {
		g.line("%s = %s", l.goName, v)
		return
	}
	gn := goLocal(name)
	sc.locals[name] = &local{goName: gn}
	g.line("%s := %s", gn, v)
}

func goLocal(name string) string {
	n := lowerFirst(goName(name))
	// Not a keyword, nor a name the generated code uses: ctx, err, the
	// hosts (h, h1, ...), captures and secrets, and the packages.
	if gotoken.IsKeyword(n) || regexp.MustCompile(`^(h|out|secret)\d*$`).MatchString(n) || importPaths[n] != "" ||
		n == "ctx" || n == "err" || n == "ok" || n == "uploadFile" || n == "uploadString" {
		n += "Value"
	}
	return n
}

// ifStmt writes if/unless; a test(...) condition runs on the host first.
func (g *gen) ifStmt(s stmt, sc *scope) {
	cond, neg := s.cond, false
	if n, ok := cond.(*notExpr); ok {
		cond, neg = n.x, true
	}
	if c, ok := cond.(*callExpr); ok && c.recv == nil && c.name == "test" {
		if sc.host == "" {
			g.todo(s, "test outside an on block")
			return
		}
		cmd, opts, err := g.commandArgs(s, c.args, sc)
		if err != nil || opts != nil {
			g.todo(s, "test: the command is not translated")
			return
		}
		ok := "ok"
		if neg {
			ok = "!ok"
		}
		g.line("if ok, err := %s; err != nil {", g.call(cmd, sc, "Test"))
		g.line("\treturn err")
		g.line("} else if %s {", ok)
	} else {
		expr, err := g.cond(s.cond, sc)
		if err != nil {
			g.todo(s, "if: "+err.Error())
			return
		}
		g.line("if %s {", expr)
	}
	g.depth++
	inner := sc.child()
	g.stmts(s.then, inner)
	g.unused(inner)
	g.depth--
	if len(s.els) > 0 {
		g.line("} else {")
		g.depth++
		inner := sc.child()
		g.stmts(s.els, inner)
		g.unused(inner)
		g.depth--
	}
	g.line("}")
}

func (g *gen) cond(e expr, sc *scope) (string, error) {
	switch x := e.(type) {
	case *notExpr:
		v, err := g.cond(x.x, sc)
		if err != nil {
			return "", err
		}
		return "!(" + v + ")", nil
	case *binExpr:
		switch x.op {
		case "&&", "||":
			l, err := g.cond(x.l, sc)
			if err != nil {
				return "", err
			}
			r, err := g.cond(x.r, sc)
			if err != nil {
				return "", err
			}
			return "(" + l + " " + x.op + " " + r + ")", nil
		case "==", "!=":
			l, err := g.value(x.l, sc)
			if err != nil {
				return "", err
			}
			r, err := g.value(x.r, sc)
			if err != nil {
				return "", err
			}
			return l + " " + x.op + " " + r, nil
		}
	case *callExpr:
		if x.recv == nil && x.name == "dry_run?" {
			return "deploylib.DryRun(ctx)", nil
		}
		if x.recv != nil && (x.name == "has_role?" || x.name == "include?") && len(x.args) == 1 && sc.host != "" {
			if r, ok := symName(x.args[0]); ok && (g.isHost(x.recv, sc) || g.isHostRoles(x.recv, sc)) {
				return sc.host + ".HasRole(" + strconv.Quote(r) + ")", nil
			}
		}
	}
	return "", fmt.Errorf("a condition other than ==, !=, &&, ||, !, test(...), dry_run? or host.has_role?")
}

func (g *gen) isHost(e expr, sc *scope) bool {
	c, ok := e.(*callExpr)
	return ok && c.recv == nil && len(c.args) == 0 && sc.hostParam != "" && c.name == sc.hostParam && sc.lookup(c.name) == nil
}

func (g *gen) isHostRoles(e expr, sc *scope) bool {
	c, ok := e.(*callExpr)
	return ok && c.name == "roles" && g.isHost(c.recv, sc)
}

// secretOf is the Go expression of a deploylib.Secret when e reads a
// sensitive value (ENV["TOKEN"], fetch(:db_password) set from one); it
// declares the secret first.
func (g *gen) secretOf(e expr, sc *scope) (string, bool) {
	name := g.secretName(e)
	if name == "" {
		return "", false
	}
	v := g.fresh("secret")
	g.line("%s, err := deploylib.SecretFromEnv(%s)", v, strconv.Quote(name))
	g.line("if err != nil {")
	g.line("\treturn err")
	g.line("}")
	return v, true
}

// secretName is the environment variable of a sensitive value, or "".
func (g *gen) secretName(e expr) string {
	name := ""
	switch x := e.(type) {
	case *indexExpr:
		if k, ok := envName(x); ok && sensitive(k) {
			name = k
		}
	case *callExpr:
		if x.recv == nil && x.name == "fetch" && len(x.args) >= 1 {
			if k, ok := symName(x.args[0]); ok {
				name = g.c.secretEnv(k)
			}
		}
	}
	return name
}

// value is the Go string expression of a Ruby value in a task.
func (g *gen) value(e expr, sc *scope) (string, error) {
	if sec, ok := g.secretOf(e, sc); ok {
		// A secret used as a plain value: it is read from the
		// environment when the task runs, and redacted from the output.
		return sec + ".Reveal()", nil
	}
	switch x := e.(type) {
	case *strExpr:
		var parts []string
		for _, p := range x.parts {
			if p.expr == nil {
				parts = append(parts, strconv.Quote(p.lit))
				continue
			}
			v, err := g.value(p.expr, sc)
			if err != nil {
				return "", err
			}
			parts = append(parts, v)
		}
		return joinConcat(parts), nil
	case *symExpr:
		return strconv.Quote(x.name), nil
	case *numExpr:
		return strconv.Quote(x.text), nil
	case *binExpr:
		if x.op == "+" {
			l, err := g.value(x.l, sc)
			if err != nil {
				return "", err
			}
			r, err := g.value(x.r, sc)
			if err != nil {
				return "", err
			}
			return l + " + " + r, nil
		}
		if x.op == "||" {
			l, err := g.value(x.l, sc)
			if err != nil {
				return "", err
			}
			r, err := g.value(x.r, sc)
			if err != nil {
				return "", err
			}
			g.use("cmp")
			return "cmp.Or(" + l + ", " + r + ")", nil
		}
	case *indexExpr:
		if k, ok := envName(x); ok {
			g.use("os")
			return "os.Getenv(" + strconv.Quote(k) + ")", nil
		}
		if g.isHostProps(x.recv, sc) {
			if k, ok := symName(x.key); ok {
				return sc.host + ".Property(" + strconv.Quote(k) + ")", nil
			}
		}
	case *callExpr:
		return g.callValue(x, sc)
	case *xstrExpr:
		return "", fmt.Errorf("backticks run a command on this machine")
	}
	return "", fmt.Errorf("a value the converter does not read")
}

func (g *gen) isHostProps(e expr, sc *scope) bool {
	c, ok := e.(*callExpr)
	return ok && c.name == "properties" && len(c.args) == 0 && g.isHost(c.recv, sc)
}

func (g *gen) run() string { return "deploylib.CurrentRun(ctx)" }

func (g *gen) callValue(x *callExpr, sc *scope) (string, error) {
	if x.recv == nil {
		if l := sc.lookup(x.name); l != nil && len(x.args) == 0 {
			l.used = true
			return l.goName, nil
		}
		if len(x.args) == 0 && x.block == nil {
			if v, ok := g.path(x.name, sc); ok {
				return v, nil
			}
		}
		if x.name == "fetch" && len(x.args) >= 1 && len(x.args) <= 2 {
			k, ok := symName(x.args[0])
			if !ok {
				return "", fmt.Errorf("fetch of a computed key")
			}
			def := `""`
			if len(x.args) == 2 {
				d, err := g.value(x.args[1], sc)
				if err != nil {
					return "", err
				}
				def = d
			}
			return g.fetch(k, def, sc)
		}
		if g.isHost(x, sc) {
			return sc.host + ".Name()", nil // SSHKit's Host#to_s is its name
		}
		if x.name == "capture" {
			return "", fmt.Errorf("capture inside an expression: assign it to a variable first (out = capture(...))")
		}
		return "", fmt.Errorf("%s is not a value the converter knows", x.name)
	}
	if k, d, ok := envFetch(x); ok {
		dv, err := g.value(d, sc)
		if err != nil {
			return "", err
		}
		g.use("cmp")
		g.use("os")
		return "cmp.Or(os.Getenv(" + strconv.Quote(k) + "), " + dv + ")", nil
	}
	switch {
	case g.isHost(x.recv, sc) && len(x.args) == 0:
		switch x.name {
		case "hostname":
			return sc.host + ".Name()", nil
		case "user", "username":
			return sc.host + ".Address.User", nil
		case "to_s":
			return sc.host + ".String()", nil
		}
	case g.isHostProps(x.recv, sc):
		if x.name == "fetch" && len(x.args) == 1 {
			if k, ok := symName(x.args[0]); ok {
				return sc.host + ".Property(" + strconv.Quote(k) + ")", nil
			}
		}
		if len(x.args) == 0 {
			return sc.host + ".Property(" + strconv.Quote(x.name) + ")", nil
		}
	case len(x.args) == 0 && (x.name == "to_s" || x.name == "to_str"):
		return g.value(x.recv, sc)
	case len(x.args) == 0 && (x.name == "strip" || x.name == "chomp"):
		v, err := g.value(x.recv, sc)
		if err != nil {
			return "", err
		}
		g.use("strings")
		return "strings.TrimSpace(" + v + ")", nil
	}
	return "", fmt.Errorf("the method %s is not translated", x.name)
}

// path is one of Capistrano's path helpers.
func (g *gen) path(name string, sc *scope) (string, bool) {
	on := sc.host
	if on == "" {
		on = g.run()
	}
	switch name {
	case "release_path":
		return on + ".ReleasePath()", true
	case "current_path":
		return on + ".CurrentPath()", true
	case "shared_path":
		return on + ".SharedPath()", true
	case "releases_path":
		return g.run() + ".ReleasesPath()", true
	case "repo_path":
		return g.run() + ".RepoPath()", true
	case "deploy_to", "deploy_path":
		return g.run() + ".Config.DeployTo", true
	case "release_timestamp":
		return g.run() + ".ReleaseName()", true
	case "revision_log":
		return g.run() + ".RevisionLogPath()", true
	}
	return "", false
}

func (g *gen) fetch(k, def string, sc *scope) (string, error) {
	switch k {
	case "application":
		return g.run() + ".Config.Application", nil
	case "repo_url":
		return g.run() + ".Config.RepoURL", nil
	case "branch":
		return g.run() + ".Revision().Branch", nil
	case "deploy_to", "release_path", "current_path", "shared_path", "releases_path", "repo_path", "release_timestamp":
		v, _ := g.path(k, sc)
		return v, nil
	case "stage":
		return g.run() + ".Stage.Name", nil
	case "current_revision":
		return g.run() + ".Revision().SHA", nil
	case "keep_releases":
		g.use("strconv")
		return "strconv.Itoa(" + g.run() + ".Config.KeepReleases)", nil
	case "linked_files", "linked_dirs", "ssh_options", "default_env":
		return "", fmt.Errorf("fetch(:%s) is not a string", k)
	}
	if g.c.untranslated[k] {
		return "", fmt.Errorf("fetch(:%s) of a setting whose value was not translated", k)
	}
	return "deploylib.Setting(ctx, " + strconv.Quote(k) + ", " + def + ")", nil
}
