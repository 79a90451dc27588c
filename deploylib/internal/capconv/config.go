package capconv

import (
	"fmt"
	"strconv"
	"strings"
)

// The configuration side: the Capfile's plugins, and set/append/ask/
// server/role evaluated per stage as cap loads them (config/deploy.rb,
// then config/deploy/<stage>.rb), into values that are Go expressions.

// cval is a configuration value: a literal, a Go string expression, or a
// list of values.
type cval struct {
	lit    string
	code   string // Go expression of type string; "" for a literal
	list   []cval
	isList bool
	// secretEnv: the value is the environment variable of that name, and
	// it is sensitive: never inlined, read with deploylib.SecretFromEnv.
	secretEnv string
	imports   []string
	set       bool // a value was set (nil and unset are not)
}

func litVal(s string) cval { return cval{lit: s, set: true} }

// goExpr is v as a Go string expression.
func (v cval) goExpr() string {
	if v.code != "" {
		return v.code
	}
	return strconv.Quote(v.lit)
}

func (v cval) key() string {
	if v.isList {
		var parts []string
		for _, e := range v.list {
			parts = append(parts, e.key())
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return v.goExpr() + "|" + v.secretEnv
}

type server struct {
	host, user, port string
	roles            []string
	primary          bool
	noRelease        bool
	props            []prop
	file             string
	line             int
}

type prop struct {
	key string
	val cval
}

type sshOpts struct {
	user, port     string
	keys           []string
	forwardAgent   bool
	knownHosts     string
	knownHostsOnly bool
	acceptNew      bool
}

// stageEnv is the configuration after cap loaded deploy.rb and, for a
// stage, its file.
type stageEnv struct {
	name    string
	file    string
	vals    map[string]cval
	where   map[string]string // key → file:line of its last set
	order   []string
	servers []*server
	ssh     sshOpts
	sshSet  bool
}

func (e *stageEnv) put(k string, v cval, at string) {
	if _, ok := e.vals[k]; !ok {
		e.order = append(e.order, k)
	}
	e.vals[k] = v
	e.where[k] = at
}

// evalStage evaluates deploy.rb and then the stage file (nil: deploy.rb
// alone, the base configuration).
func (c *converter) evalStage(name string, deploy, stage *srcFile) *stageEnv {
	env := &stageEnv{name: name, vals: map[string]cval{}, where: map[string]string{}}
	if stage != nil {
		env.file = stage.rel
		env.put("stage", litVal(name), stage.rel+":0")
	}
	c.evalConfig(env, deploy, deploy.stmts, stage == nil)
	if stage != nil {
		c.evalConfig(env, stage, stage.stmts, false)
	}
	return env
}

// definitional statements are read by definitions, not here.
var definitional = map[string]bool{"namespace": true, "task": true, "desc": true, "before": true, "after": true}

// ignored statements change nothing a Capstan deploy does.
var ignored = map[string]string{
	"lock": "", "require": "", "load": "", "install_plugin": "", "import": "",
}

func (c *converter) evalConfig(env *stageEnv, f *srcFile, stmts []stmt, quiet bool) {
	note := func(s stmt, why string, args ...any) {
		if !quiet {
			c.note(f.rel, s.line, s.src, fmt.Sprintf(why, args...))
		}
	}
	for _, s := range stmts {
		if s.unknown != "" {
			note(s, "not translated: %s", s.unknown)
			continue
		}
		if s.call == nil || s.call.recv != nil {
			note(s, "not translated: only set, append, ask, server, role, tasks and hooks are read here")
			continue
		}
		call := s.call
		at := fmt.Sprintf("%s:%d", f.rel, s.line)
		if definitional[call.name] {
			continue
		}
		if _, ok := ignored[call.name]; ok {
			continue
		}
		switch call.name {
		case "set", "set_if_empty":
			if len(call.args) < 1 {
				note(s, "set without a key")
				continue
			}
			k, ok := symName(call.args[0])
			if !ok {
				note(s, "set: the key is not a symbol")
				continue
			}
			if call.name == "set_if_empty" {
				if _, has := env.vals[k]; has {
					continue
				}
			}
			var vexpr expr
			switch {
			case len(call.args) == 2:
				vexpr = call.args[1]
			case len(call.args) == 1 && call.block != nil:
				vexpr = &lambdaExpr{call.block.body}
			default:
				note(s, "set :%s: expected one value", k)
				continue
			}
			if k == "ssh_options" {
				c.sshOptions(env, s, f, vexpr, quiet)
				continue
			}
			if why := noEquivalent[k]; why != "" {
				note(s, "set :%s has no Capstan equivalent: %s", k, why)
				continue
			}
			if droppedKeys[k] {
				continue
			}
			if h, ok := vexpr.(*hashExpr); ok && k == "default_env" {
				env.put(k, c.envPairs(env, s, f, h, quiet), at)
				continue
			}
			v, err := c.configValue(env, k, vexpr)
			if err == nil {
				err = checkMapped(k, v)
			}
			if err != nil {
				note(s, "set :%s not translated: %v", k, err)
				c.untranslated[k] = true
				continue
			}
			env.put(k, v, at)
		case "append", "remove":
			if len(call.args) < 2 {
				note(s, "%s needs a key and values", call.name)
				continue
			}
			k, ok := symName(call.args[0])
			if !ok {
				note(s, "%s: the key is not a symbol", call.name)
				continue
			}
			cur := env.vals[k]
			cur.isList, cur.set = true, true
			for _, a := range call.args[1:] {
				v, err := c.configValue(env, k, a)
				if err != nil {
					note(s, "%s :%s not translated: %v", call.name, k, err)
					continue
				}
				items := []cval{v}
				if v.isList {
					items = v.list
				}
				for _, it := range items {
					if call.name == "append" {
						cur.list = append(cur.list, it)
						continue
					}
					var kept []cval
					for _, x := range cur.list {
						if x.key() != it.key() {
							kept = append(kept, x)
						}
					}
					cur.list = kept
				}
			}
			env.put(k, cur, at)
		case "delete":
			if k, ok := symName(firstArg(call)); ok {
				delete(env.vals, k)
			}
		case "ask":
			c.ask(env, s, f, quiet)
		case "server":
			c.serverLine(env, s, f, quiet)
		case "role":
			c.roleLine(env, s, f, quiet)
		default:
			note(s, "not translated: %s is not part of the Capistrano DSL the converter reads", call.name)
		}
	}
}

// checkMapped checks the value of a setting that has a field of its own.
func checkMapped(k string, v cval) error {
	switch k {
	case "keep_releases":
		if n, err := strconv.Atoi(v.lit); v.code != "" || v.isList || err != nil || n < 1 {
			return fmt.Errorf("KeepReleases needs a number above 0 written in the file")
		}
	case "linked_files", "linked_dirs":
		if !v.isList {
			return fmt.Errorf("not a list")
		}
	case "application", "repo_url", "branch", "deploy_to", "repo_tree":
		if v.isList || v.secretEnv != "" {
			return fmt.Errorf("not a string")
		}
	}
	return nil
}

func firstArg(c *callExpr) expr {
	if len(c.args) == 0 {
		return nil
	}
	return c.args[0]
}

func symName(e expr) (string, bool) {
	switch x := e.(type) {
	case *symExpr:
		return x.name, true
	case *strExpr:
		if s, ok := plainString(x); ok {
			return s, true
		}
	}
	return "", false
}

func plainString(s *strExpr) (string, bool) {
	var b strings.Builder
	for _, p := range s.parts {
		if p.expr != nil {
			return "", false
		}
		b.WriteString(p.lit)
	}
	return b.String(), true
}

// sensitive reports whether a setting or environment variable name
// suggests a secret.
func sensitive(name string) bool {
	n := strings.ToUpper(name)
	for _, w := range []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "PASS", "CREDENTIAL", "PRIVATE", "API_KEY", "APIKEY", "AUTH"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	// Connection strings carry their passwords.
	return strings.HasSuffix(n, "_KEY") || strings.HasSuffix(n, "DATABASE_URL") || strings.HasSuffix(n, "DB_URL") || strings.Contains(n, "DSN")
}

// configValue evaluates a setting's value as cap would when loading.
func (c *converter) configValue(env *stageEnv, key string, e expr) (cval, error) {
	switch x := e.(type) {
	case *strExpr:
		var parts []cval
		for _, p := range x.parts {
			if p.expr == nil {
				parts = append(parts, litVal(p.lit))
				continue
			}
			v, err := c.configValue(env, key, p.expr)
			if err != nil {
				return cval{}, err
			}
			if v.isList {
				return cval{}, fmt.Errorf("a list inside a string")
			}
			if v.secretEnv != "" {
				return cval{}, fmt.Errorf("the secret $%s inside a string would be inlined", v.secretEnv)
			}
			parts = append(parts, v)
		}
		return concat(parts), nil
	case *symExpr:
		return litVal(x.name), nil
	case *numExpr:
		return litVal(x.text), nil
	case *boolExpr:
		return litVal(strconv.FormatBool(x.v)), nil
	case *nilExpr:
		return cval{}, nil
	case *arrayExpr:
		out := cval{isList: true, set: true}
		for _, el := range x.elems {
			v, err := c.configValue(env, key, el)
			if err != nil {
				return cval{}, err
			}
			out.list = append(out.list, v)
		}
		return out, nil
	case *lambdaExpr:
		if len(x.body) != 1 || x.body[0].assign != "" || x.body[0].isCond {
			return cval{}, fmt.Errorf("a lazy value (-> { }) with more than one expression")
		}
		b := x.body[0]
		if b.call != nil {
			return c.configValue(env, key, b.call)
		}
		if b.other != nil {
			return c.configValue(env, key, b.other)
		}
		return cval{}, fmt.Errorf("an empty lazy value")
	case *binExpr:
		if x.op == "||" {
			l, err := c.configValue(env, key, x.l)
			if err != nil {
				return cval{}, err
			}
			r, err := c.configValue(env, key, x.r)
			if err != nil {
				return cval{}, err
			}
			if l.isList || r.isList || r.secretEnv != "" {
				return cval{}, fmt.Errorf("|| of lists or secrets")
			}
			if l.secretEnv != "" {
				return cval{}, fmt.Errorf("a default for the secret $%s would be inlined", l.secretEnv)
			}
			if l.code == "" {
				return l, nil
			}
			return cval{code: "cmp.Or(" + l.goExpr() + ", " + r.goExpr() + ")", imports: append(append([]string{"cmp"}, l.imports...), r.imports...), set: true}, nil
		}
		if x.op == "+" {
			l, err := c.configValue(env, key, x.l)
			if err != nil {
				return cval{}, err
			}
			r, err := c.configValue(env, key, x.r)
			if err != nil {
				return cval{}, err
			}
			if l.isList && r.isList {
				return cval{isList: true, set: true, list: append(append([]cval{}, l.list...), r.list...)}, nil
			}
			if l.isList || r.isList || l.secretEnv != "" || r.secretEnv != "" {
				return cval{}, fmt.Errorf("+ of a list or a secret")
			}
			return concat([]cval{l, r}), nil
		}
		return cval{}, fmt.Errorf("operator %s", x.op)
	case *indexExpr:
		if k, ok := envName(x); ok {
			if sensitive(k) || sensitive(key) {
				return cval{secretEnv: k, set: true}, nil
			}
			return cval{code: "os.Getenv(" + strconv.Quote(k) + ")", imports: []string{"os"}, set: true}, nil
		}
	case *callExpr:
		if x.recv == nil && x.name == "fetch" && len(x.args) >= 1 {
			k, ok := symName(x.args[0])
			if !ok {
				return cval{}, fmt.Errorf("fetch of a key that is not a symbol")
			}
			if v, ok := env.vals[k]; ok && v.set {
				return v, nil
			}
			if len(x.args) == 2 {
				return c.configValue(env, key, x.args[1])
			}
			if d, ok := capDefault(env, k); ok {
				return d, nil
			}
			return cval{}, fmt.Errorf("fetch(:%s) of a setting not set before this line", k)
		}
		if k, ok := envRequired(x); ok {
			// ENV.fetch("X"): cap fails when X is unset; the Go reads it.
			if sensitive(k) || sensitive(key) {
				return cval{secretEnv: k, set: true}, nil
			}
			return cval{code: "os.Getenv(" + strconv.Quote(k) + ")", imports: []string{"os"}, set: true}, nil
		}
		if k, d, ok := envFetch(x); ok {
			if sensitive(k) || sensitive(key) {
				return cval{}, fmt.Errorf("a default for the secret $%s would be inlined", k)
			}
			dv, err := c.configValue(env, key, d)
			if err != nil {
				return cval{}, err
			}
			return cval{code: "cmp.Or(os.Getenv(" + strconv.Quote(k) + "), " + dv.goExpr() + ")", imports: []string{"cmp", "os"}, set: true}, nil
		}
		if x.recv != nil && (x.name == "push" || x.name == "concat" || x.name == "+") {
			l, err := c.configValue(env, key, x.recv)
			if err != nil {
				return cval{}, err
			}
			if !l.isList {
				return cval{}, fmt.Errorf("%s on a value that is not a list", x.name)
			}
			out := cval{isList: true, set: true, list: append([]cval{}, l.list...)}
			for _, a := range x.args {
				v, err := c.configValue(env, key, a)
				if err != nil {
					return cval{}, err
				}
				if v.isList {
					out.list = append(out.list, v.list...)
				} else {
					out.list = append(out.list, v)
				}
			}
			return out, nil
		}
		if x.recv != nil && (x.name == "to_s" || x.name == "to_sym") && len(x.args) == 0 {
			return c.configValue(env, key, x.recv)
		}
		if x.recv == nil && len(x.args) == 0 && x.block == nil {
			return cval{}, fmt.Errorf("%s is computed when cap runs", x.name)
		}
	case *xstrExpr:
		return cval{}, fmt.Errorf("backticks run a local command (`%s`)", x.src)
	}
	return cval{}, fmt.Errorf("the value is not a literal, fetch or ENV")
}

// capDefault is Capistrano's default for a key it sets itself.
func capDefault(env *stageEnv, k string) (cval, bool) {
	switch k {
	case "deploy_to":
		app, ok := env.vals["application"]
		if !ok {
			return cval{}, false
		}
		return concat([]cval{litVal("/var/www/"), app}), true
	case "branch":
		return litVal("master"), true
	case "keep_releases":
		return litVal("5"), true
	}
	return cval{}, false
}

func concat(parts []cval) cval {
	var out []cval
	var imports []string
	for _, p := range parts {
		imports = append(imports, p.imports...)
		if p.code == "" && len(out) > 0 && out[len(out)-1].code == "" {
			out[len(out)-1].lit += p.lit
			continue
		}
		if p.code == "" && p.lit == "" {
			continue
		}
		out = append(out, p)
	}
	switch len(out) {
	case 0:
		return litVal("")
	case 1:
		out[0].imports = imports
		out[0].set = true
		return out[0]
	}
	var codes []string
	for _, p := range out {
		codes = append(codes, p.goExpr())
	}
	return cval{code: strings.Join(codes, " + "), imports: imports, set: true}
}

// envName reads ENV["X"].
func envName(x *indexExpr) (string, bool) {
	if c, ok := x.recv.(*constExpr); ok && c.name == "ENV" {
		if s, ok := x.key.(*strExpr); ok {
			return plainString(s)
		}
	}
	return "", false
}

// envRequired reads ENV.fetch("X"), without a default.
func envRequired(x *callExpr) (string, bool) {
	c, ok := x.recv.(*constExpr)
	if !ok || c.name != "ENV" || x.name != "fetch" || len(x.args) != 1 || x.block != nil {
		return "", false
	}
	if s, ok := x.args[0].(*strExpr); ok {
		return plainString(s)
	}
	return "", false
}

// envFetch reads ENV.fetch("X", default) and ENV.fetch("X") { default }.
func envFetch(x *callExpr) (string, expr, bool) {
	c, ok := x.recv.(*constExpr)
	if !ok || c.name != "ENV" || x.name != "fetch" || len(x.args) == 0 {
		return "", nil, false
	}
	s, ok := x.args[0].(*strExpr)
	if !ok {
		return "", nil, false
	}
	k, ok := plainString(s)
	if !ok {
		return "", nil, false
	}
	switch {
	case len(x.args) == 2:
		return k, x.args[1], true
	case x.block != nil && len(x.block.body) == 1 && x.block.body[0].other != nil:
		return k, x.block.body[0].other, true
	}
	return "", nil, false
}

func (c *converter) ask(env *stageEnv, s stmt, f *srcFile, quiet bool) {
	call := s.call
	k, ok := symName(firstArg(call))
	if !ok {
		if !quiet {
			c.note(f.rel, s.line, s.src, "ask: the key is not a symbol")
		}
		return
	}
	at := fmt.Sprintf("%s:%d", f.rel, s.line)
	def := litVal("")
	echo := true
	for _, a := range call.args[1:] {
		if h, ok := a.(*hashExpr); ok {
			for _, p := range h.pairs {
				if n, _ := symName(p.key); n == "echo" {
					if b, ok := p.val.(*boolExpr); ok && !b.v {
						echo = false
					}
				}
			}
			continue
		}
		v, err := c.configValue(env, k, a)
		if err != nil || v.isList {
			if !quiet {
				c.note(f.rel, s.line, s.src, fmt.Sprintf("ask :%s: the default is not translated", k))
			}
			continue
		}
		def = v
	}
	name := strings.ToUpper(k)
	switch {
	case k == "branch":
		// Capstan reads BRANCH itself: BRANCH=x go tool mage staging deploy.
		env.put(k, def, at)
	case !echo || sensitive(k):
		if !quiet && def.goExpr() != `""` {
			c.note(f.rel, s.line, s.src, fmt.Sprintf("ask :%s: a secret's default is not inlined; set %s in the environment", k, name))
		}
		env.put(k, cval{secretEnv: name, set: true}, at)
	default:
		if !quiet {
			c.note(f.rel, s.line, s.src, fmt.Sprintf("ask :%s prompted on the terminal; the Go reads the environment variable %s instead, with the same default", k, name))
		}
		env.put(k, cval{code: "cmp.Or(os.Getenv(" + strconv.Quote(name) + "), " + def.goExpr() + ")", imports: append([]string{"cmp", "os"}, def.imports...), set: true}, at)
	}
}

// hostOptions applies server/role options (user:, port:, roles:,
// primary:, no_release:, ssh_options:, anything else a property).
func (c *converter) hostOptions(env *stageEnv, s stmt, f *srcFile, sv *server, h *hashExpr, quiet bool) {
	note := func(why string, args ...any) {
		if !quiet {
			c.note(f.rel, s.line, s.src, fmt.Sprintf(why, args...))
		}
	}
	for _, p := range h.pairs {
		k, ok := symName(p.key)
		if !ok {
			note("a server option whose key is not a symbol")
			continue
		}
		switch k {
		case "roles", "role":
			v, err := c.configValue(env, k, p.val)
			if err != nil {
				note("roles: %v", err)
				continue
			}
			items := []cval{v}
			if v.isList {
				items = v.list
			}
			for _, it := range items {
				if it.code != "" {
					note("a role name computed when cap runs")
					continue
				}
				sv.roles = appendUnique(sv.roles, it.lit)
			}
		case "user", "port":
			v, err := c.configValue(env, k, p.val)
			if err != nil || v.code != "" || v.isList {
				note("%s: only a literal is translated", k)
				continue
			}
			if k == "user" {
				sv.user = v.lit
			} else {
				sv.port = v.lit
			}
		case "primary", "no_release":
			b, ok := p.val.(*boolExpr)
			if !ok {
				note("%s: only true or false is translated", k)
				continue
			}
			if k == "primary" {
				sv.primary = b.v
			} else {
				sv.noRelease = b.v
			}
		case "ssh_options":
			hh, ok := p.val.(*hashExpr)
			if !ok {
				note("ssh_options of a server: not a hash")
				continue
			}
			for _, q := range hh.pairs {
				qk, _ := symName(q.key)
				v, err := c.configValue(env, qk, q.val)
				switch {
				case err == nil && (qk == "user" || qk == "port") && v.code == "" && !v.isList:
					if qk == "user" {
						sv.user = v.lit
					} else {
						sv.port = v.lit
					}
				default:
					note("ssh_options :%s of one server: Capstan's SSH options are per stage (deploylib.Stage.SSH)", qk)
				}
			}
		default:
			v, err := c.configValue(env, k, p.val)
			if err != nil || v.isList || v.secretEnv != "" {
				why := "a list"
				if err != nil {
					why = err.Error()
				} else if v.secretEnv != "" {
					why = "a secret"
				}
				note("server property :%s not translated (%s): properties are strings", k, why)
				continue
			}
			sv.props = append(sv.props, prop{k, v})
		}
	}
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// addServer merges sv into the stage's servers: cap keeps one server per
// host name and port, with the union of roles and properties.
func (env *stageEnv) addServer(sv *server) {
	for _, o := range env.servers {
		if o.host == sv.host && o.port == sv.port && (o.user == sv.user || sv.user == "" || o.user == "") {
			for _, r := range sv.roles {
				o.roles = appendUnique(o.roles, r)
			}
			if sv.user != "" {
				o.user = sv.user
			}
			o.primary = o.primary || sv.primary
			o.noRelease = o.noRelease || sv.noRelease
			for _, p := range sv.props {
				replaced := false
				for i := range o.props {
					if o.props[i].key == p.key {
						o.props[i], replaced = p, true
					}
				}
				if !replaced {
					o.props = append(o.props, p)
				}
			}
			return
		}
	}
	env.servers = append(env.servers, sv)
}

// splitHost reads "user@host:port" as Capistrano's server names it.
func splitHost(sv *server, name string) {
	if i := strings.LastIndex(name, "@"); i >= 0 {
		sv.user, name = name[:i], name[i+1:]
	}
	if strings.HasPrefix(name, "[") {
		if i := strings.Index(name, "]"); i > 0 {
			if strings.HasPrefix(name[i+1:], ":") {
				sv.port = name[i+2:]
			}
			name = name[1:i]
		}
	} else if strings.Count(name, ":") == 1 {
		i := strings.Index(name, ":")
		sv.port, name = name[i+1:], name[:i]
	}
	sv.host = name
}

func (c *converter) serverLine(env *stageEnv, s stmt, f *srcFile, quiet bool) {
	call := s.call
	if len(call.args) == 0 {
		if !quiet {
			c.note(f.rel, s.line, s.src, "server without a host")
		}
		return
	}
	v, err := c.configValue(env, "server", call.args[0])
	if err != nil || v.code != "" || v.isList {
		if !quiet {
			c.note(f.rel, s.line, s.src, "server: only a literal host name is translated")
		}
		return
	}
	sv := &server{file: f.rel, line: s.line}
	splitHost(sv, v.lit)
	for _, a := range call.args[1:] {
		if h, ok := a.(*hashExpr); ok {
			c.hostOptions(env, s, f, sv, h, quiet)
		} else if !quiet {
			c.note(f.rel, s.line, s.src, "server: an argument that is not an option")
		}
	}
	env.addServer(sv)
}

func (c *converter) roleLine(env *stageEnv, s stmt, f *srcFile, quiet bool) {
	call := s.call
	if len(call.args) < 2 {
		if !quiet {
			c.note(f.rel, s.line, s.src, "role needs a name and hosts")
		}
		return
	}
	role, ok := symName(call.args[0])
	if !ok {
		if !quiet {
			c.note(f.rel, s.line, s.src, "role: the name is not a symbol")
		}
		return
	}
	// role :app, %w{a b}, "c", user: "x": every argument but the
	// options names hosts.
	var hosts []cval
	var opts []*hashExpr
	for _, a := range call.args[1:] {
		if h, ok := a.(*hashExpr); ok {
			opts = append(opts, h)
			continue
		}
		v, err := c.configValue(env, "role", a)
		if err != nil {
			if !quiet {
				c.note(f.rel, s.line, s.src, fmt.Sprintf("role :%s: %v", role, err))
			}
			return
		}
		if v.isList {
			hosts = append(hosts, v.list...)
		} else {
			hosts = append(hosts, v)
		}
	}
	for _, hv := range hosts {
		if hv.code != "" {
			if !quiet {
				c.note(f.rel, s.line, s.src, fmt.Sprintf("role :%s: a host name computed when cap runs", role))
			}
			continue
		}
		sv := &server{file: f.rel, line: s.line, roles: []string{role}}
		splitHost(sv, hv.lit)
		for _, h := range opts {
			c.hostOptions(env, s, f, sv, h, quiet)
		}
		env.addServer(sv)
	}
}

func (c *converter) sshOptions(env *stageEnv, s stmt, f *srcFile, e expr, quiet bool) {
	note := func(why string, args ...any) {
		if !quiet {
			c.note(f.rel, s.line, s.src, fmt.Sprintf(why, args...))
		}
	}
	h, ok := e.(*hashExpr)
	if !ok {
		note("set :ssh_options: not a hash")
		return
	}
	o := sshOpts{}
	for _, p := range h.pairs {
		k, _ := symName(p.key)
		v, err := c.configValue(env, k, p.val)
		scalar := err == nil && !v.isList && v.code == "" && v.secretEnv == ""
		switch {
		case k == "user" && scalar:
			o.user = v.lit
		case k == "port" && scalar:
			o.port = v.lit
		case k == "keys" && err == nil:
			items := []cval{v}
			if v.isList {
				items = v.list
			}
			for _, it := range items {
				if it.code != "" {
					note("ssh_options keys: a key path computed when cap runs")
					continue
				}
				o.keys = append(o.keys, it.lit)
			}
		case k == "forward_agent" && scalar:
			o.forwardAgent = v.lit == "true"
		case k == "user_known_hosts_file" && scalar:
			o.knownHosts, o.knownHostsOnly = v.lit, true
		case k == "verify_host_key" && scalar:
			switch v.lit {
			case "always", "true":
			case "accept_new", "accepts_new":
				o.acceptNew = true
			default:
				note("ssh_options verify_host_key: %s: Capstan always checks host keys (record them with ssh-keyscan, or set SSH.AcceptNewHostKeys)", v.lit)
			}
		case k == "keys_only" || k == "auth_methods" || k == "global_known_hosts_file" || k == "timeout" || k == "keepalive" || k == "compression":
			// Capstan offers the identity files first and checks
			// known_hosts; these need no translation.
		default:
			note("ssh_options :%s has no translation", k)
		}
	}
	env.ssh, env.sshSet = o, true
}

// envPairs reads set :default_env, { path: "...", "RAILS_ENV" => "x" } as
// name, value, name, value (SSHKit upper-cases symbol names).
func (c *converter) envPairs(env *stageEnv, s stmt, f *srcFile, h *hashExpr, quiet bool) cval {
	out := cval{isList: true, set: true}
	for _, p := range h.pairs {
		name := ""
		switch k := p.key.(type) {
		case *symExpr:
			name = strings.ToUpper(k.name)
		case *strExpr:
			name, _ = plainString(k)
		}
		v, err := c.configValue(env, name, p.val)
		if name == "" || err != nil || v.isList || v.secretEnv != "" {
			if !quiet {
				c.note(f.rel, s.line, s.src, "default_env: an entry that is not a name and a string")
			}
			continue
		}
		if v.code == "" && strings.Contains(v.lit, "$") && !quiet {
			c.note(f.rel, s.line, s.src, "default_env "+name+": SSHKit let the remote shell expand $ in the value; Capstan exports it as written")
		}
		out.list = append(out.list, litVal(name), v)
	}
	return out
}
