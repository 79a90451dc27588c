// Package capconv converts a Capistrano 3 project (Capfile,
// config/deploy.rb, config/deploy/<stage>.rb, lib/capistrano/tasks/*.rake)
// into the Go that a Capstan team writes: magefiles/deploy.go with the
// configuration, the tasks and their hooks, and stages/<stage>.go with each
// stage's servers. It reads the Capistrano DSL with a small parser of its
// own, without Ruby. What it cannot translate it keeps in the Go as a
// comment holding the Ruby line and a TODO, and returns as a Note.
package capconv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Options say what to convert.
type Options struct {
	// Dir is the Capistrano project's top level (where Capfile is).
	Dir string
	// Module is the Go module path of the repository the files are for;
	// deploy.go imports Module+"/stages".
	Module string
	// Stages names the stages to write, each read from
	// config/deploy/<name>.rb. Default: every file there.
	Stages []string
}

// File is one file to write, relative to the module's top level.
type File struct {
	Path    string
	Content string
}

// Note is one Capistrano statement that was not translated, or translated
// with a difference worth checking.
type Note struct {
	File string // relative to the Capistrano project
	Line int
	Why  string
}

func (n Note) String() string { return fmt.Sprintf("%s:%d: %s", n.File, n.Line, n.Why) }

// Result is a converted project.
type Result struct {
	Files  []File
	Notes  []Note
	Stages []string
}

// ErrNotCapistrano is returned, wrapped, when Dir has no config/deploy.rb.
var ErrNotCapistrano = errors.New("not a Capistrano project")

// srcFile is one Ruby file of the project, parsed.
type srcFile struct {
	rel   string
	stmts []stmt
}

func readRuby(dir, rel string) (*srcFile, error) {
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		return nil, err
	}
	stmts, err := parseFile(rel, string(b))
	if err != nil {
		return nil, err
	}
	// The name appears in comments of the Go: one line, always.
	return &srcFile{rel: commentSafe(rel), stmts: stmts}, nil
}

// Convert reads the Capistrano project in o.Dir and returns the Go files.
func Convert(o Options) (*Result, error) {
	if o.Module == "" {
		return nil, errors.New("capconv: no module path")
	}
	deployRb := filepath.Join(o.Dir, "config", "deploy.rb")
	if _, err := os.Stat(deployRb); err != nil {
		return nil, fmt.Errorf("%w: %s has no config/deploy.rb (%v)", ErrNotCapistrano, o.Dir, err)
	}
	c := newConverter()
	if _, err := os.Stat(filepath.Join(o.Dir, "Capfile")); err == nil {
		f, err := readRuby(o.Dir, "Capfile")
		if err != nil {
			return nil, err
		}
		c.capfile(f)
	}
	deploy, err := readRuby(o.Dir, "config/deploy.rb")
	if err != nil {
		return nil, err
	}
	var rakes []*srcFile
	for _, glob := range []string{"lib/capistrano/tasks/*.rake", "lib/capistrano/tasks/*.rb"} {
		matches, _ := filepath.Glob(filepath.Join(o.Dir, filepath.FromSlash(glob)))
		sort.Strings(matches)
		for _, m := range matches {
			rel, _ := filepath.Rel(o.Dir, m)
			f, err := readRuby(o.Dir, filepath.ToSlash(rel))
			if err != nil {
				return nil, err
			}
			rakes = append(rakes, f)
		}
	}
	stageNames := o.Stages
	if len(stageNames) == 0 {
		matches, _ := filepath.Glob(filepath.Join(o.Dir, "config", "deploy", "*.rb"))
		for _, m := range matches {
			stageNames = append(stageNames, strings.TrimSuffix(filepath.Base(m), ".rb"))
		}
		sort.Strings(stageNames)
		if len(stageNames) == 0 {
			return nil, fmt.Errorf("%s: no stage files in config/deploy/ (staging.rb, production.rb, ...)", o.Dir)
		}
	}
	var stages []*srcFile
	for _, name := range stageNames {
		if err := CheckStageName(name); err != nil {
			return nil, err
		}
		f, err := readRuby(o.Dir, "config/deploy/"+name+".rb")
		if err != nil {
			if os.IsNotExist(err) {
				return nil, fmt.Errorf("stage %s: config/deploy/%s.rb does not exist in %s", name, name, o.Dir)
			}
			return nil, err
		}
		stages = append(stages, f)
	}

	// Tasks and hooks in cap's loading order: the Capfile imports the
	// rake files as it starts, deploy.rb and the stage file are loaded
	// when the stage task runs. Hooks on one task run in that order.
	for _, f := range rakes {
		c.definitions(f, f.stmts, nil, false)
	}
	c.definitions(deploy, deploy.stmts, nil, false)
	for _, f := range stages {
		c.definitions(f, f.stmts, nil, true)
	}
	// Configuration: deploy.rb then the stage file, per stage, as cap
	// loads them.
	c.base = c.evalStage("", deploy, nil)
	for i, f := range stages {
		st := c.evalStage(stageNames[i], deploy, f)
		c.stages = append(c.stages, st)
	}
	return c.emit(o.Module)
}

// CheckStageName says whether name can name a stage: letters, digits, -
// and _, starting with a letter, and not the name of a Capstan target.
func CheckStageName(name string) error {
	if name == "" {
		return errors.New("empty stage name")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("stage name %q: use letters, digits, - and _", name)
		}
	}
	if r := name[0]; r >= '0' && r <= '9' {
		return fmt.Errorf("stage name %q must start with a letter", name)
	}
	switch strings.ToLower(goName(name)) {
	case "deploy", "rollback", "releases", "run", "ssh", "dryrun", "flow", "task", "config", "logs", "local", "default":
		return fmt.Errorf("stage name %q is taken by a Capstan target; rename the stage", name)
	}
	return nil
}

// StageFunc is the name of the stage's function (its mage target).
func StageFunc(name string) string { return goName(name) }

// goName turns "app:clear_cache" or "production-eu" into AppClearCache,
// ProductionEu.
func goName(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			if up {
				r -= 'a' - 'A'
			}
			b.WriteRune(r)
			up = false
		case r >= 'A' && r <= 'Z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			up = false
		default:
			up = true
		}
	}
	out := b.String()
	if out == "" || out[0] >= '0' && out[0] <= '9' {
		out = "T" + out
	}
	return out
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
