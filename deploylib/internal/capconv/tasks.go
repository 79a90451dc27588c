package capconv

import (
	"fmt"
	gotoken "go/token"
	"sort"
	"strings"
)

// The task side: namespaces, desc, task, before and after, and the
// Capfile's plugins.

type converter struct {
	notes   []Note
	noted   map[string]bool
	todos   map[string][]todo // file → comments to keep in its Go file
	tasks   []*task
	byName  map[string]*task
	hooks   []hookDef
	stages  []*stageEnv
	base    *stageEnv // config/deploy.rb alone
	plugins []string
	// untranslated are the settings whose value was not translated: a
	// task that fetches one is not translated either.
	untranslated map[string]bool
}

type todo struct {
	line int
	src  string
	why  string
}

type task struct {
	name, desc string
	file       string
	line       int
	src        string
	body       []stmt
	deps       []string
	scope      []string
	goVar      string
	goFunc     string
}

type hookDef struct {
	before       bool
	target, hook string
	scope        []string
	file         string
	line         int
	src          string
}

func newConverter() *converter {
	return &converter{noted: map[string]bool{}, todos: map[string][]todo{}, byName: map[string]*task{}, untranslated: map[string]bool{}}
}

// note records a statement that was not translated; the same line and
// reason once, however many stages read it.
func (c *converter) note(file string, line int, src, why string) {
	k := fmt.Sprintf("%s:%d:%s", file, line, why)
	if c.noted[k] {
		return
	}
	c.noted[k] = true
	c.notes = append(c.notes, Note{File: file, Line: line, Why: why})
	c.todos[file] = append(c.todos[file], todo{line, src, why})
}

// noteOnly records a note whose comment the generated code keeps in
// place (inside a task's function).
func (c *converter) noteOnly(file string, line int, why string) {
	k := fmt.Sprintf("%s:%d:%s", file, line, why)
	if c.noted[k] {
		return
	}
	c.noted[k] = true
	c.notes = append(c.notes, Note{File: file, Line: line, Why: why})
}

// pluginHints say what a team writes instead of a plugin's tasks.
var pluginHints = map[string]string{
	"capistrano/bundler":          "its bundler:install (bundle install after deploy:updated) is not converted; write it as a task hung After deploylib.Updated",
	"capistrano/rails":            "its asset and migration tasks are not converted; write deploy:migrate and deploy:compile_assets as tasks hung After deploylib.Updated",
	"capistrano/rails/assets":     "its deploy:compile_assets is not converted; write it as a task hung After deploylib.Updated",
	"capistrano/rails/migrations": "its deploy:migrate is not converted; write it as a task on deploylib.Primary(\"db\") hung After deploylib.Updated",
	"capistrano/passenger":        "its passenger:restart is not converted; write it as a task hung After deploylib.Published (passenger-config restart-app, or touch tmp/restart.txt)",
	"capistrano/rbenv":            "rbenv's command prefixes are not converted; set PATH or RBENV_VERSION in Config.Env",
	"capistrano/rvm":              "rvm's command prefixes are not converted; set PATH in Config.Env",
	"capistrano/chruby":           "chruby's command prefixes are not converted; set PATH in Config.Env",
	"capistrano/nvm":              "nvm's command prefixes are not converted; set PATH in Config.Env",
	"capistrano/npm":              "its npm:install is not converted; write it as a task hung After deploylib.Updated",
	"capistrano/yarn":             "its yarn:install is not converted; write it as a task hung After deploylib.Updated",
	"capistrano/composer":         "its composer:install is not converted; write it as a task hung After deploylib.Updated",
	"capistrano/puma":             "its puma tasks are not converted; restart the server in a task hung After deploylib.Published",
	"capistrano/sidekiq":          "its sidekiq tasks are not converted; restart workers in a task hung After deploylib.Published",
}

// builtin plugins that Capstan does itself.
var builtin = map[string]bool{"capistrano/setup": true, "capistrano/deploy": true, "capistrano/scm/git": true, "capistrano/framework": true}

func (c *converter) capfile(f *srcFile) {
	for _, s := range f.stmts {
		switch {
		case s.unknown != "":
			c.note(f.rel, s.line, s.src, "not translated: "+s.unknown)
		case s.call != nil && s.call.recv == nil && s.call.name == "require" && len(s.call.args) == 1:
			name, ok := symName(s.call.args[0])
			if !ok {
				c.note(f.rel, s.line, s.src, "require of a computed name")
				continue
			}
			if builtin[name] {
				continue
			}
			c.plugins = append(c.plugins, name)
			switch {
			case strings.HasPrefix(name, "capistrano/scm/"):
				c.note(f.rel, s.line, s.src, "only the git strategy (and Capstan's upload strategy) exist: "+name+" is not converted")
			case pluginHints[name] != "":
				c.note(f.rel, s.line, s.src, "plugin "+name+" has no Go equivalent: "+pluginHints[name])
			default:
				c.note(f.rel, s.line, s.src, "plugin "+name+" has no Go equivalent: its tasks and hooks are not converted")
			}
		case s.call != nil && s.call.recv == nil && s.call.name == "install_plugin":
			if cn, ok := firstArg(s.call).(*constExpr); ok && cn.name == "Capistrano::SCM::Git" {
				continue
			}
			c.note(f.rel, s.line, s.src, "install_plugin: the plugin is not converted")
		case isTaskImport(s):
			// Dir.glob("lib/capistrano/tasks/*.rake").each { |r| import r }:
			// the converter reads those files itself.
		default:
			c.note(f.rel, s.line, s.src, "not translated")
		}
	}
}

func isTaskImport(s stmt) bool {
	e, ok := s.other.(*callExpr)
	if s.call != nil {
		e, ok = s.call, true
	}
	return ok && e.name == "each" && e.block != nil && strings.Contains(s.src, "lib/capistrano/tasks")
}

// definitions reads namespaces, tasks and hooks.
func (c *converter) definitions(f *srcFile, stmts []stmt, scope []string, inStage bool) {
	desc := ""
	for _, s := range stmts {
		if s.call == nil || s.call.recv != nil {
			if len(scope) > 0 {
				c.note(f.rel, s.line, s.src, "not translated: only tasks belong in a namespace")
			}
			continue
		}
		call := s.call
		switch call.name {
		case "namespace":
			ns, ok := symName(firstArg(call))
			if !ok || call.block == nil {
				c.note(f.rel, s.line, s.src, "namespace without a name or block")
				continue
			}
			c.definitions(f, call.block.body, append(append([]string{}, scope...), ns), inStage)
		case "desc":
			if d, ok := firstArg(call).(*strExpr); ok {
				desc, _ = plainString(d)
			}
			continue
		case "task":
			c.taskDef(f, s, scope, desc, inStage)
		case "before", "after":
			c.hookLine(f, s, scope, inStage)
		default:
			if len(scope) > 0 {
				c.note(f.rel, s.line, s.src, "not translated: only tasks belong in a namespace")
			}
		}
		desc = ""
	}
}

func (c *converter) taskDef(f *srcFile, s stmt, scope []string, desc string, inStage bool) {
	call := s.call
	var name string
	var deps []string
	switch a := firstArg(call).(type) {
	case *symExpr:
		name = a.name
	case *strExpr:
		name, _ = plainString(a)
	case *hashExpr: // task name: [:deps] or task :name => :dep
		if len(a.pairs) == 1 {
			name, _ = symName(a.pairs[0].key)
			switch d := a.pairs[0].val.(type) {
			case *arrayExpr:
				for _, e := range d.elems {
					if n, ok := symName(e); ok {
						deps = append(deps, n)
					}
				}
			default:
				if n, ok := symName(d); ok {
					deps = append(deps, n)
				}
			}
		}
	}
	if name == "" {
		c.note(f.rel, s.line, s.src, "task without a name")
		return
	}
	if inStage {
		c.note(f.rel, s.line, s.src, "a task defined in a stage file: converted for every stage")
	}
	full := strings.Join(append(append([]string{}, scope...), name), ":")
	t := c.byName[full]
	if t == nil {
		t = &task{name: full, file: f.rel, line: s.line, src: s.src, scope: scope}
		c.byName[full] = t
		c.tasks = append(c.tasks, t)
	} else if call.block != nil && len(t.body) > 0 {
		// Rake appends the actions of a task defined twice.
		c.note(f.rel, s.line, s.src, "task "+full+" is defined again: its body runs after the first one's")
	}
	if desc != "" {
		t.desc = desc
	}
	t.deps = append(t.deps, deps...)
	if call.block != nil {
		t.body = append(t.body, call.block.body...)
	}
}

func (c *converter) hookLine(f *srcFile, s stmt, scope []string, inStage bool) {
	call := s.call
	if len(call.args) < 2 {
		c.note(f.rel, s.line, s.src, call.name+" needs a task and a hook")
		return
	}
	target, ok := symName(call.args[0])
	if !ok {
		c.note(f.rel, s.line, s.src, call.name+": the task is not a name")
		return
	}
	if inStage {
		c.note(f.rel, s.line, s.src, "a hook in a stage file: Capstan's hooks apply to every stage; make the hook check deploylib.CurrentRun(ctx).Stage.Name")
	}
	for _, a := range call.args[1:] {
		if _, isOpts := a.(*hashExpr); isOpts {
			continue
		}
		hook, ok := symName(a)
		if !ok {
			c.note(f.rel, s.line, s.src, call.name+": a hook that is not a task name")
			continue
		}
		if call.block != nil {
			// before :x, :name do ... end defines the task too.
			full := strings.Join(append(append([]string{}, scope...), hook), ":")
			if c.byName[full] == nil {
				t := &task{name: full, file: f.rel, line: s.line, src: s.src, scope: scope, body: call.block.body}
				c.byName[full] = t
				c.tasks = append(c.tasks, t)
			}
		}
		c.hooks = append(c.hooks, hookDef{before: call.name == "before", target: target, hook: hook, scope: scope, file: f.rel, line: s.line, src: s.src})
	}
}

// resolve finds a task name as Rake does from a namespace: innermost
// scope first.
func (c *converter) resolve(name string, scope []string) (custom *task, std string, ok bool) {
	for i := len(scope); i >= 0; i-- {
		full := strings.Join(append(append([]string{}, scope[:i]...), name), ":")
		if t := c.byName[full]; t != nil {
			return t, "", true
		}
		if v, ok := standardTasks[full]; ok {
			return nil, v, true
		}
	}
	return nil, "", false
}

// standardTasks maps Capistrano's task names to deploylib's variables.
var standardTasks = map[string]string{
	"deploy":                        "Deploy",
	"deploy:starting":               "Starting",
	"deploy:started":                "Started",
	"deploy:updating":               "Updating",
	"deploy:updated":                "Updated",
	"deploy:publishing":             "Publishing",
	"deploy:published":              "Published",
	"deploy:finishing":              "Finishing",
	"deploy:finished":               "Finished",
	"deploy:reverting":              "Reverting",
	"deploy:reverted":               "Reverted",
	"deploy:finishing_rollback":     "FinishingRollback",
	"deploy:failed":                 "Failed",
	"deploy:rollback":               "Rollback",
	"rollback":                      "Rollback",
	"deploy:check":                  "Check",
	"deploy:check:directories":      "CheckDirectories",
	"deploy:set_previous_revision":  "SetPreviousRevision",
	"deploy:new_release_path":       "NewReleasePath",
	"deploy:set_current_revision":   "SetCurrentRevision",
	"deploy:symlink:shared":         "SymlinkShared",
	"deploy:symlink:linked_files":   "SymlinkLinkedFiles",
	"deploy:symlink:linked_dirs":    "SymlinkLinkedDirs",
	"deploy:symlink:release":        "SymlinkRelease",
	"deploy:cleanup":                "Cleanup",
	"deploy:cleanup_rollback":       "CleanupRollback",
	"deploy:revert_release":         "RevertRelease",
	"deploy:log_revision":           "LogRevision",
	"git:check":                     "GitCheck",
	"git:clone":                     "GitClone",
	"git:update":                    "GitUpdate",
	"git:create_release":            "GitCreateRelease",
	"deploy:lock":                   "Lock",
	"deploy:unlock":                 "Unlock",
	"git:set_current_revision":      "SetCurrentRevision",
	"deploy:check:linked_dirs":      "CheckDirectories",
	"deploy:check:make_linked_dirs": "CheckDirectories",
	"deploy:check:linked_files":     "CheckDirectories",
}

// approximateTasks are Capistrano tasks whose work a larger Capstan task
// does: a hook on them lands on that task.
var approximateTasks = map[string]bool{
	"git:set_current_revision": true, "deploy:check:linked_dirs": true, "deploy:check:make_linked_dirs": true, "deploy:check:linked_files": true,
}

// assignNames gives every task its Go variable and function names.
func (c *converter) assignNames(taken map[string]bool) {
	for _, t := range c.tasks {
		base := goName(t.name)
		v := base
		for i := 2; taken[v] || taken[lowerFirst(v)]; i++ {
			v = fmt.Sprintf("%s%d", base, i)
		}
		taken[v], taken[lowerFirst(v)] = true, true
		t.goVar, t.goFunc = v, lowerFirst(v)
		if gotoken.IsKeyword(t.goFunc) {
			t.goFunc += "Task"
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
