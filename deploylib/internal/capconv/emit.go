package capconv

import (
	"fmt"
	"go/format"
	"sort"
	"strconv"
	"strings"
)

// mappedKeys are settings with a field of their own in deploylib.
var mappedKeys = map[string]bool{
	"application": true, "repo_url": true, "branch": true, "deploy_to": true, "keep_releases": true,
	"linked_files": true, "linked_dirs": true, "default_env": true, "repo_tree": true, "stage": true, "ssh_options": true,
}

// droppedKeys change only cap's own console or machinery; nothing to
// translate.
var droppedKeys = map[string]bool{"log_level": true, "format": true, "format_options": true, "scm": true}

// noEquivalent are Capistrano settings with no Capstan counterpart.
var noEquivalent = map[string]string{
	"pty":                          "Capstan runs commands without a terminal",
	"local_user":                   "revisions.log records USER (or LOGNAME)",
	"tmp_dir":                      "Capstan needs no temporary directory on the servers",
	"git_shallow_clone":            "the git strategy keeps a full mirror",
	"git_wrapper_path":             "Capstan runs git without a wrapper script",
	"git_environmental_variables":  "set them in Config.Env",
	"git_keep_meta":                "git archive leaves .git out, always",
	"use_sudo":                     "use h.As(user) in tasks",
	"default_run_options":          "not a Capistrano 3 setting",
	"deploy_via":                   "not a Capistrano 3 setting",
	"linked_file_dirs":             "Capstan creates the parents of linked files itself",
	"linked_dir_parents":           "Capstan creates the parents of linked dirs itself",
	"migration_role":               "write migrations as a task on deploylib.Primary(\"db\")",
	"conditionally_migrate":        "write migrations as a task",
	"assets_roles":                 "write asset compilation as a task",
	"bundle_flags":                 "capistrano/bundler is not converted",
	"passenger_restart_with_touch": "capistrano/passenger is not converted",
}

func (c *converter) secretEnv(k string) string {
	for _, e := range c.stages {
		if v, ok := e.vals[k]; ok && v.secretEnv != "" {
			return v.secretEnv
		}
	}
	return ""
}

type importSet map[string]bool

func (s importSet) add(pkgs ...string) {
	for _, p := range pkgs {
		s[p] = true
	}
}

var importPaths = map[string]string{
	"context": "context", "os": "os", "cmp": "cmp", "strings": "strings", "path": "path", "time": "time",
	"strconv": "strconv", "io": "io",
	"shell":     "github.com/capstan-deploy/capstan/deploylib/shell",
	"deploylib": "github.com/capstan-deploy/capstan/deploylib",
	"mg":        "github.com/magefile/mage/mg",
}

func (s importSet) block(extra ...string) string {
	var std, other []string
	for p := range s {
		ip := importPaths[p]
		if strings.Contains(ip, ".") {
			other = append(other, ip)
		} else {
			std = append(std, ip)
		}
	}
	sort.Strings(std)
	sort.Strings(other)
	var b strings.Builder
	b.WriteString("import (\n")
	for _, p := range std {
		fmt.Fprintf(&b, "\t%q\n", p)
	}
	if len(std) > 0 {
		b.WriteString("\n")
	}
	for _, p := range other {
		fmt.Fprintf(&b, "\t%q\n", p)
	}
	for _, e := range extra {
		b.WriteString(e)
	}
	b.WriteString(")\n")
	return b.String()
}

func goStrings(list []cval) (string, []string) {
	var parts, imports []string
	for _, v := range list {
		parts = append(parts, v.goExpr())
		imports = append(imports, v.imports...)
	}
	return "[]string{" + strings.Join(parts, ", ") + "}", imports
}

func (c *converter) emit(module string) (*Result, error) {
	if len(c.stages) == 0 {
		return nil, fmt.Errorf("no stages to convert")
	}
	// The base configuration: what every stage shares.
	base := c.common()
	res := &Result{}
	taken := map[string]bool{"init": true, "main": true, "uploadFile": true, "uploadString": true}
	c.assignNames(taken)

	// Task bodies first: they note what they cannot translate.
	g := &gen{c: c, imports: map[string]bool{}, helpers: map[string]bool{}}
	var bodies strings.Builder
	for _, t := range c.tasks {
		g.file = t.file
		g.b.Reset()
		g.taskFunc(t)
		bodies.WriteString("\n")
		bodies.WriteString(g.b.String())
	}

	imports := importSet{"deploylib": true}
	for p := range g.imports {
		imports.add(p)
	}
	var initB strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&initB, format, args...); initB.WriteByte('\n') }
	w("func init() {")
	w("deploylib.Configure(deploylib.Config{")
	app := base["application"]
	if app.set {
		w("Application: %s,", app.goExpr())
		imports.add(app.imports...)
	}
	for _, f := range []struct{ key, field string }{{"repo_url", "RepoURL"}, {"branch", "Branch"}, {"deploy_to", "DeployTo"}, {"repo_tree", "RepoTree"}} {
		v, ok := base[f.key]
		if !ok || !v.set {
			if f.key == "branch" {
				w("Branch: %q, // Capistrano's default branch", "master")
			}
			if f.key == "deploy_to" && app.set {
				w("DeployTo: %s, // Capistrano's default deploy_to", concat([]cval{litVal("/var/www/"), app}).goExpr())
			}
			continue
		}
		if v.isList || v.secretEnv != "" {
			continue
		}
		imports.add(v.imports...)
		w("%s: %s,", f.field, v.goExpr())
	}
	if v, ok := base["keep_releases"]; ok && v.code == "" && !v.isList {
		if _, err := strconv.Atoi(v.lit); err == nil {
			w("KeepReleases: %s,", v.lit)
		}
	}
	for _, f := range []struct{ key, field string }{{"linked_files", "LinkedFiles"}, {"linked_dirs", "LinkedDirs"}} {
		if v, ok := base[f.key]; ok && v.isList && len(v.list) > 0 {
			s, imp := goStrings(v.list)
			imports.add(imp...)
			w("%s: %s,", f.field, s)
		}
	}
	if env := c.envMap(base); env != "" {
		w("Env: %s,", env)
	}
	settings := c.settings(base, imports)
	if settings != "" {
		w("Settings: %s,", settings)
	}
	w("})")
	// Every setting key, declared so that the doctor knows them.
	keys := map[string]string{}
	for _, e := range c.stages {
		for k := range e.vals {
			if isSetting(k, e.vals[k]) {
				if _, ok := keys[k]; !ok {
					keys[k] = e.where[k]
				}
			}
		}
	}
	for _, k := range sortedKeys(keys) {
		w("deploylib.DeclareSetting(%q, %q)", k, "converted from Capistrano's set :"+k+" ("+strings.TrimSuffix(keys[k], ":0")+")")
	}
	// Prerequisites (task :x => :y), then hooks in cap's order.
	for _, t := range c.tasks {
		for _, d := range t.deps {
			ref, ok := g.taskRef(d, t.scope)
			if !ok {
				c.note(t.file, t.line, t.src, "prerequisite "+d+" of "+t.name+" is neither one of the project's tasks nor a standard one")
				continue
			}
			w("deploylib.Before(%s, %s) // %s:%d: task %s => %s", t.goVar, ref, t.file, t.line, commentSafe(t.name), commentSafe(d))
		}
	}
	for _, h := range c.hooks {
		target, ok := g.taskRef(h.target, h.scope)
		if !ok {
			c.note(h.file, h.line, h.src, "hook on "+h.target+", which is neither one of the project's tasks nor a standard one (a plugin's?): not translated")
			continue
		}
		hook, ok := g.taskRef(h.hook, h.scope)
		if !ok {
			c.note(h.file, h.line, h.src, "hook "+h.hook+" is neither one of the project's tasks nor a standard one (a plugin's?): not translated")
			continue
		}
		if _, std, _ := c.resolve(h.target, h.scope); approximateTasks[fullName(h.target, h.scope)] {
			c.note(h.file, h.line, h.src, "Capstan has no task "+h.target+"; the hook hangs on deploylib."+std+", which does its work")
		}
		fn := "After"
		if h.before {
			fn = "Before"
		}
		w("deploylib.%s(%s, %s) // %s:%d", fn, target, hook, h.file, h.line)
	}
	w("}")

	// Namespaces that become mage targets: ns:task for namespaces that
	// are not Capstan's own.
	var nsB strings.Builder
	nsTasks := map[string][]*task{}
	var nsOrder []string
	for _, t := range c.tasks {
		parts := strings.Split(t.name, ":")
		if len(parts) != 2 || parts[0] == "deploy" || parts[0] == "git" || parts[0] == "load" {
			continue
		}
		if _, ok := nsTasks[parts[0]]; !ok {
			nsOrder = append(nsOrder, parts[0])
		}
		nsTasks[parts[0]] = append(nsTasks[parts[0]], t)
	}
	for _, ns := range nsOrder {
		typ := goName(ns)
		if taken[typ] {
			continue
		}
		taken[typ] = true
		imports.add("mg", "context")
		fmt.Fprintf(&nsB, "\n// %s is the Capistrano namespace %s: go tool mage <stage> %s:<task>.\ntype %s mg.Namespace\n", typ, commentSafe(ns), commentSafe(ns), typ)
		methods := map[string]bool{}
		for _, t := range nsTasks[ns] {
			m := goName(strings.Split(t.name, ":")[1])
			if methods[m] {
				continue
			}
			methods[m] = true
			doc := ""
			if t.desc != "" {
				doc = ": " + commentSafe(strings.TrimSuffix(t.desc, ".")) + "."
			}
			fmt.Fprintf(&nsB, "\n// %s runs the Capistrano task %s%s\nfunc (%s) %s(ctx context.Context) error { return deploylib.Start(ctx, %s) }\n",
				m, commentSafe(t.name), doc, typ, m, t.goVar)
		}
	}

	var vars strings.Builder
	for _, t := range c.tasks {
		doc := t.desc
		if doc == "" {
			doc = "converted from Capistrano"
		}
		fmt.Fprintf(&vars, "\n// %s is the Capistrano task %s (%s:%d).\nvar %s = deploylib.NewTask(%s, %s, %s)\n",
			t.goVar, commentSafe(t.name), t.file, t.line, t.goVar, strconv.Quote(t.name), strconv.Quote(doc), t.goFunc)
	}

	var helpers strings.Builder
	if g.helpers["uploadFile"] {
		imports.add("os", "shell", "context")
		helpers.WriteString(uploadFileHelper)
	}
	if g.helpers["uploadString"] {
		imports.add("strings", "shell", "context")
		helpers.WriteString(uploadStringHelper)
	}

	stageFiles := map[string]bool{}
	for _, e := range c.stages {
		stageFiles[e.file] = true
	}
	var todoB strings.Builder
	for _, f := range sortedKeys(c.todos) {
		if stageFiles[f] {
			continue
		}
		for _, t := range sortTodos(c.todos[f]) {
			writeTodo(&todoB, f, t)
		}
	}

	var stageNames []string
	for _, e := range c.stages {
		stageNames = append(stageNames, e.name)
	}
	var b strings.Builder
	appName := "the application"
	if app.set && app.code == "" {
		appName = app.lit
	}
	fmt.Fprintf(&b, `//go:build mage

// Deploys %s with Capstan. Converted from its Capistrano project (Capfile,
// config/deploy.rb, lib/capistrano/tasks) by capstan-init -from-capistrano:
// every TODO(capstan-init) comment holds a Capistrano line that has no
// translation, and why.
package main

// %-40severy task
// %-40sthe deploy flow with every hook
// %-40sprint every command, run nothing
// %-40sdeploy the stage
//
// Fast start: export MAGEFILE_HASHFAST=1 (shell profile, CI) and mage reuses
// its compiled binary instead of relinking it on every run; that binary
// refuses to run, printing the command that rebuilds it, once stages/, a
// hook's package or go.mod changed after it was built.
`, commentSafe(appName), "go tool mage -l", "go tool mage flow deploy", "go tool mage "+stageNames[0]+" dryrun deploy", "go tool mage "+stageNames[0]+" deploy")
	b.WriteString("\n")
	extra := []string{
		"\t//mage:import\n\t_ \"github.com/capstan-deploy/capstan/deploylib/targets\" // deploy, rollback, releases, run, ssh, dryrun, flow\n",
		"\t//mage:import\n\t_ \"github.com/capstan-deploy/capstan/deploylib/targets/deployns\" // deploy:check, deploy:rollback, ...\n",
		fmt.Sprintf("\t//mage:import\n\t_ %q // %s\n", module+"/stages", strings.Join(stageNames, ", ")),
	}
	b.WriteString(imports.block(extra...))
	b.WriteString("\n")
	b.WriteString(initB.String())
	if todoB.Len() > 0 {
		b.WriteString("\n// Not translated (capstan-init -from-capistrano):\n//\n")
		b.WriteString(todoB.String())
	}
	b.WriteString(vars.String())
	b.WriteString(bodies.String())
	b.WriteString(nsB.String())
	b.WriteString(helpers.String())
	src, err := format.Source([]byte(b.String()))
	if err != nil {
		return nil, fmt.Errorf("capconv: the generated magefiles/deploy.go does not parse (a converter bug): %v\n%s", err, b.String())
	}
	res.Files = append(res.Files, File{Path: "magefiles/deploy.go", Content: string(src)})

	for i, e := range c.stages {
		f, err := c.stageFile(e, base, i == 0)
		if err != nil {
			return nil, err
		}
		res.Files = append(res.Files, f)
	}
	res.Stages = stageNames
	sort.SliceStable(c.notes, func(i, j int) bool {
		if c.notes[i].File != c.notes[j].File {
			return fileRank(c.notes[i].File) < fileRank(c.notes[j].File) || fileRank(c.notes[i].File) == fileRank(c.notes[j].File) && c.notes[i].File < c.notes[j].File
		}
		return c.notes[i].Line < c.notes[j].Line
	})
	res.Notes = c.notes
	return res, nil
}

func fileRank(f string) int {
	switch {
	case f == "Capfile":
		return 0
	case f == "config/deploy.rb":
		return 1
	case strings.HasPrefix(f, "config/deploy/"):
		return 2
	}
	return 3
}

func fullName(name string, scope []string) string {
	if strings.Contains(name, ":") {
		return name
	}
	return strings.Join(append(append([]string{}, scope...), name), ":")
}

func writeTodo(b *strings.Builder, file string, t todo) {
	fmt.Fprintf(b, "// TODO(capstan-init): %s:%d: %s\n", file, t.line, oneLine(t.why))
	for _, l := range strings.Split(dedent(t.src), "\n") {
		fmt.Fprintf(b, "//\t%s\n", commentSafe(l))
	}
}

func sortTodos(ts []todo) []todo {
	out := append([]todo{}, ts...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].line < out[j].line })
	return out
}

func isSetting(k string, v cval) bool {
	return !mappedKeys[k] && !droppedKeys[k] && noEquivalent[k] == "" && v.secretEnv == "" && v.set
}

// common is the configuration of config/deploy.rb alone, which every
// stage starts from; a stage overrides what its file (or a value that
// depends on the stage) changes.
func (c *converter) common() map[string]cval {
	out := map[string]cval{}
	for k, v := range c.base.vals {
		if v.set {
			out[k] = v
		}
	}
	return out
}

// settings writes the Settings map of the keys in vals.
func (c *converter) settings(vals map[string]cval, imports importSet) string {
	var pairs []string
	for _, k := range sortedKeys(vals) {
		v := vals[k]
		if !isSetting(k, v) {
			continue
		}
		if v.isList {
			// Settings are strings: a list is kept space-separated.
			var words []string
			for _, it := range v.list {
				words = append(words, it.goExpr())
				imports.add(it.imports...)
			}
			if len(words) == 0 {
				pairs = append(pairs, fmt.Sprintf("%q: \"\",", k))
				continue
			}
			imports.add("strings")
			pairs = append(pairs, fmt.Sprintf("%q: strings.Join([]string{%s}, \" \"),", k, strings.Join(words, ", ")))
			continue
		}
		imports.add(v.imports...)
		pairs = append(pairs, fmt.Sprintf("%q: %s,", k, v.goExpr()))
	}
	if len(pairs) == 0 {
		return ""
	}
	return "map[string]string{\n" + strings.Join(pairs, "\n") + "\n}"
}

// envMap writes default_env, which envPairs keeps as a list of names and
// values, as an Env map.
func (c *converter) envMap(vals map[string]cval) string {
	v, ok := vals["default_env"]
	if !ok || !v.isList {
		return ""
	}
	var pairs []string
	for i := 0; i+1 < len(v.list); i += 2 {
		pairs = append(pairs, fmt.Sprintf("%s: %s,", v.list[i].goExpr(), v.list[i+1].goExpr()))
	}
	if len(pairs) == 0 {
		return ""
	}
	return "map[string]string{\n" + strings.Join(pairs, "\n") + "\n}"
}

func (c *converter) stageFile(e *stageEnv, base map[string]cval, first bool) (File, error) {
	imports := importSet{"deploylib": true}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...); b.WriteByte('\n') }
	fn := StageFunc(e.name)
	w("// %s selects the stage converted from %s: go tool mage %s deploy.", fn, e.file, strings.ToLower(fn))
	w("func %s() {", fn)
	w("deploylib.UseStage(deploylib.Stage{")
	w("Name: %q,", e.name)
	for _, f := range []struct{ key, field string }{{"branch", "Branch"}, {"deploy_to", "DeployTo"}, {"repo_url", "RepoURL"}} {
		v, ok := e.vals[f.key]
		if !ok || !v.set || v.isList || v.secretEnv != "" {
			continue
		}
		if bv, ok := base[f.key]; ok && bv.key() == v.key() {
			continue
		}
		imports.add(v.imports...)
		w("%s: %s,", f.field, v.goExpr())
	}
	if v, ok := e.vals["keep_releases"]; ok && v.code == "" && !v.isList {
		if n, err := strconv.Atoi(v.lit); err == nil && n > 0 && base["keep_releases"].key() != v.key() {
			w("KeepReleases: %d,", n)
		}
	}
	w("Servers: []deploylib.Server{")
	for _, sv := range e.servers {
		host := sv.host
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		user, port := sv.user, sv.port
		if user == "" {
			user = e.ssh.user
		}
		if port == "" {
			port = e.ssh.port
		}
		if user != "" {
			host = user + "@" + host
		}
		if port != "" {
			host += ":" + port
		}
		fields := []string{"Host: " + strconv.Quote(host)}
		if len(sv.roles) > 0 {
			var q []string
			for _, r := range sv.roles {
				q = append(q, strconv.Quote(r))
			}
			fields = append(fields, "Roles: []string{"+strings.Join(q, ", ")+"}")
		}
		if sv.primary {
			fields = append(fields, "Primary: true")
		}
		if sv.noRelease {
			fields = append(fields, "NoRelease: true")
		}
		if len(sv.props) > 0 {
			var q []string
			for _, p := range sv.props {
				q = append(q, strconv.Quote(p.key)+": "+p.val.goExpr())
				imports.add(p.val.imports...)
			}
			fields = append(fields, "Properties: map[string]string{"+strings.Join(q, ", ")+"}")
		}
		w("{%s}, // %s:%d", strings.Join(fields, ", "), sv.file, sv.line)
	}
	w("},")
	if e.sshSet {
		var f []string
		o := e.ssh
		if len(o.keys) > 0 {
			var q []string
			for _, k := range o.keys {
				q = append(q, strconv.Quote(k))
			}
			f = append(f, "IdentityFiles: []string{"+strings.Join(q, ", ")+"}")
		}
		if o.forwardAgent {
			f = append(f, "ForwardAgent: true")
		}
		if o.knownHosts != "" {
			f = append(f, "KnownHostsFile: "+strconv.Quote(o.knownHosts))
		}
		if o.knownHostsOnly {
			f = append(f, "KnownHostsOnly: true")
		}
		if o.acceptNew {
			f = append(f, "AcceptNewHostKeys: true")
		}
		if len(f) > 0 {
			w("SSH: deploylib.SSHOptions{%s},", strings.Join(f, ", "))
		}
	}
	own := map[string]cval{}
	for k, v := range e.vals {
		if bv, ok := base[k]; ok && bv.key() == v.key() && bv.isList == v.isList {
			continue
		}
		own[k] = v
	}
	if s := c.settings(own, imports); s != "" {
		w("Settings: %s,", s)
	}
	if env := c.envMap(own); env != "" {
		w("Env: %s,", env)
	}
	var conf []string
	if v, ok := own["application"]; ok && v.set && !v.isList {
		conf = append(conf, "c.Application = "+v.goExpr())
		imports.add(v.imports...)
	}
	for _, f := range []struct{ key, field string }{{"linked_files", "LinkedFiles"}, {"linked_dirs", "LinkedDirs"}} {
		v, ok := own[f.key]
		if !ok || !v.isList {
			continue
		}
		bv := base[f.key]
		if len(bv.list) <= len(v.list) && prefixOf(bv.list, v.list) {
			s, imp := goStrings(v.list[len(bv.list):])
			imports.add(imp...)
			w("Append%s: %s,", f.field, s)
			continue
		}
		s, imp := goStrings(v.list)
		imports.add(imp...)
		conf = append(conf, fmt.Sprintf("c.%s = %s", f.field, s))
	}
	if len(conf) > 0 {
		w("Configure: func(c *deploylib.Config) {")
		for _, l := range conf {
			w("%s", l)
		}
		w("},")
	}
	w("})")
	w("}")

	var out strings.Builder
	if first {
		out.WriteString("// Package stages holds the deploy stages converted from Capistrano's\n// config/deploy/*.rb, one file each. The magefile imports it with\n// //mage:import, so every exported function here is a mage target\n// selecting its stage.\n")
	}
	out.WriteString("package stages\n\n")
	out.WriteString(imports.block())
	out.WriteString("\n")
	if todos := c.todos[e.file]; len(todos) > 0 {
		out.WriteString("// Not translated (capstan-init -from-capistrano):\n//\n")
		var tb strings.Builder
		for _, t := range sortTodos(todos) {
			writeTodo(&tb, e.file, t)
		}
		out.WriteString(tb.String())
		out.WriteString("\n")
	}
	out.WriteString(b.String())
	src, err := format.Source([]byte(out.String()))
	if err != nil {
		return File{}, fmt.Errorf("capconv: the generated stages/%s.go does not parse (a converter bug): %v\n%s", e.name, err, out.String())
	}
	return File{Path: "stages/" + StageFile(e.name) + ".go", Content: string(src)}, nil
}

// StageFile is the name of the stage's file in stages/, without .go.
func StageFile(name string) string { return strings.ReplaceAll(strings.ToLower(name), "-", "_") }

func prefixOf(a, b []cval) bool {
	for i := range a {
		if a[i].key() != b[i].key() {
			return false
		}
	}
	return true
}

const uploadFileHelper = `
// uploadFile copies the local file to remote on h, as Capistrano's upload!
// does: the file's contents are streamed over the SSH connection.
func uploadFile(ctx context.Context, h *deploylib.Host, local, remote string) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	return h.Stream(ctx, shell.Raw("cat > "+shell.Quote(remote)), f)
}
`

const uploadStringHelper = `
// uploadString writes content to remote on h, as Capistrano's
// upload! StringIO.new(content) does.
func uploadString(ctx context.Context, h *deploylib.Host, content, remote string) error {
	return h.Stream(ctx, shell.Raw("cat > "+shell.Quote(remote)), strings.NewReader(content))
}
`
