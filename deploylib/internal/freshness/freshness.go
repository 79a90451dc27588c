// Package freshness keeps a fast start from being a stale one. A magefile
// binary that mage reuses (MAGEFILE_HASHFAST=1) or that a team compiled
// once (go tool mage -compile) checks, before a run touches anything, that
// the sources it was built from have not changed since it was built, and
// refuses with the command that rebuilds it when they have.
//
// Why mage alone does not suffice (mage v1.17.2, mage/main.go): without
// MAGEFILE_HASHFAST, mage runs go build on every invocation, which
// relinks the binary (about 0.65 s); with it, mage names the cached binary
// after a hash of the magefiles' contents and the go version only, so a
// change in stages/, in a hook package outside magefiles/ or in go.mod
// reuses the old binary; a binary from go tool mage -compile is never
// checked against anything.
//
// What the binary knows about its build: mage builds with go build -o
// <binary> <magefiles...> mage_output_file.go in the magefiles directory,
// without -trimpath, so the linker's file table (the pclntab, which
// runtime.FuncForPC reads positions from) holds the absolute path of every
// source file compiled in, the generated mage_output_file.go among them;
// the build info lists the modules with their versions and the -ldflags.
// The binary's modification time is when go build wrote it (go build -o
// always rewrites its output, even when nothing changed).
//
// The check: every package directory of the main module and of modules
// replaced by a local directory (everything not in GOROOT and not in the
// read-only module cache) is listed, and every .go file in it (tests
// aside) must be older than the binary and every file compiled in must
// still exist; so must go.mod, go.sum and go.work of the module holding the
// magefiles (an upgrade of a dependency shows there, since the module cache
// is immutable). "Older" compares the later of a file's modification and
// inode change times, which touch -d and cp -p cannot set back. A binary run
// in another checkout of the project than the one it was built from is
// stale too (mage's HASHFAST cache names binaries by the magefiles'
// contents only, so two clones share one binary).
//
// When the check cannot decide it says nothing and the run proceeds: the
// program is not a mage-built magefile binary (a test, a program that
// calls deploylib itself), its file table cannot be read, it was built
// with -trimpath, or the magefiles directory it was built from does not
// exist on this machine (a binary built elsewhere and copied to a CI
// runner: the copy is the artifact being deployed on purpose). Setting
// CAPSTAN_FRESHNESS=off skips the check.
package freshness

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// EnvVar is the environment variable that turns the check off ("off").
const EnvVar = "CAPSTAN_FRESHNESS"

// mainfile is the file mage generates beside the magefiles, compiles in
// and deletes after the build: its presence in the file table marks a
// magefile binary and its directory is the magefiles directory.
const mainfile = "mage_output_file.go"

// maxReasons is how many changed files a refusal lists.
const maxReasons = 5

// Binary is what a magefile binary knows about its own build.
type Binary struct {
	Path    string          // the executable
	Built   time.Time       // its modification time: when go build wrote it
	Files   []string        // the source files compiled in, from the linker's file table
	Deps    []*debug.Module // the modules compiled in, from the build info
	Ldflags string          // the -ldflags it was built with (go tool mage -compile -ldflags)
	GoRoot  string          // where the standard library's sources were
}

// StaleError is the refusal of a binary older than its sources.
type StaleError struct {
	Binary  string    // the executable
	Built   time.Time // when it was built
	Reasons []string  // what changed, one line each
	Rebuild string    // the shell command that rebuilds it and runs the same targets again
}

func (e *StaleError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "refusing to run: this magefile binary (%s, built %s) was not built from the sources on disk, so it would run old stages and hooks; nothing was done.\n",
		e.Binary, e.Built.Local().Format("2006-01-02 15:04:05"))
	for _, r := range e.Reasons {
		fmt.Fprintf(&b, "  %s\n", r)
	}
	fmt.Fprintf(&b, "Rebuild it and run again with:\n  %s", e.Rebuild)
	return b.String()
}

// self describes the running executable once per process: reading the
// file table is the only part that costs more than a stat.
var self = sync.OnceValue(func() *Binary {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	if p, err := filepath.EvalSymlinks(exe); err == nil {
		exe = p
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return nil
	}
	files, err := sourceFiles(exe)
	if err != nil || !slices.ContainsFunc(files, isMainfile) {
		return nil // unreadable, or not a magefile binary
	}
	b := &Binary{Path: exe, Built: fi.ModTime(), Files: files, GoRoot: goroot()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		b.Deps = bi.Deps
		for _, s := range bi.Settings {
			if s.Key == "-ldflags" {
				b.Ldflags = s.Value
			}
		}
	}
	return b
})

// Check refuses, with a [*StaleError], to let the running magefile binary
// start a run when a source it was built from changed after it was built.
// It returns nil when the binary is fresh or when the check cannot decide
// (see the package documentation). getenv reads the environment
// (os.Getenv outside tests). The first call reads the executable's file
// table (well under a millisecond); each call lists the module's package
// directories again.
func Check(getenv func(string) string) error {
	if strings.EqualFold(strings.TrimSpace(getenv(EnvVar)), "off") {
		return nil
	}
	b := self()
	if b == nil {
		return nil
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil
	}
	return b.Check(cwd, os.Args[1:], getenv)
}

// Check compares b with the sources on disk, for a run started in cwd
// with args (the targets, as mage passes them). It returns a [*StaleError]
// or nil.
func (b *Binary) Check(cwd string, args []string, getenv func(string) string) error {
	i := slices.IndexFunc(b.Files, isMainfile)
	if i < 0 {
		return nil // not a magefile binary
	}
	magefiles := filepath.Dir(filepath.FromSlash(b.Files[i]))
	if !filepath.IsAbs(magefiles) {
		return nil // -trimpath: the sources cannot be found
	}
	if st, err := os.Stat(magefiles); err != nil || !st.IsDir() {
		return nil // built on another machine, or the checkout is gone
	}
	root := moduleRoot(magefiles)
	if root == "" {
		root = magefiles
	}
	c := &comparison{b: b, root: root}

	// Another checkout of the same project: the HASHFAST cache is shared.
	if here := moduleRoot(cwd); here != "" && !sameDir(here, root) && !within(magefiles, here) && !within(cwd, root) {
		if st, err := os.Stat(filepath.Join(here, "magefiles")); err == nil && st.IsDir() {
			c.reasons = append(c.reasons, fmt.Sprintf("it was built from the checkout %s, and this is %s", root, here))
		}
	}
	for _, name := range []string{"go.mod", "go.sum", "go.work", "go.work.sum"} {
		c.file(filepath.Join(root, name), name == "go.mod")
	}
	c.packages()
	if len(c.reasons) == 0 {
		return nil
	}
	reasons := c.reasons
	if len(reasons) > maxReasons {
		reasons = append(reasons[:maxReasons:maxReasons], fmt.Sprintf("and %d more", len(c.reasons)-maxReasons))
	}
	return &StaleError{Binary: b.Path, Built: b.Built, Reasons: reasons, Rebuild: b.rebuild(root, cwd, args)}
}

// comparison collects what changed after b was built.
type comparison struct {
	b       *Binary
	root    string
	reasons []string
}

// file records name as changed when it was modified at or after the build
// (a file written in the same clock tick as the binary was written after
// the compiler read it), or as removed when it is gone and must exist.
func (c *comparison) file(name string, mustExist bool) {
	fi, err := os.Stat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if mustExist {
			c.reasons = append(c.reasons, c.show(name)+" was removed")
		}
	case err != nil:
		c.reasons = append(c.reasons, fmt.Sprintf("%s cannot be checked: %v", c.show(name), err))
	default:
		c.compare(name, fi)
	}
}

func (c *comparison) compare(name string, fi fs.FileInfo) {
	if t := changedAt(fi); !t.Before(c.b.Built) {
		c.reasons = append(c.reasons, fmt.Sprintf("%s changed at %s, after the build at %s",
			c.show(name), t.Local().Format("15:04:05.000"), c.b.Built.Local().Format("15:04:05.000")))
	}
}

// packages compares every package directory the binary was compiled from,
// outside GOROOT and the module cache.
func (c *comparison) packages() {
	cache := c.b.moduleCacheMarkers()
	dirs := map[string][]string{} // directory -> the files compiled in from it
	for _, f := range c.b.Files {
		f = filepath.FromSlash(f)
		if !filepath.IsAbs(f) || (c.b.GoRoot != "" && strings.HasPrefix(f, c.b.GoRoot+string(filepath.Separator))) {
			continue
		}
		slashed := filepath.ToSlash(f)
		if slices.ContainsFunc(cache, func(m string) bool { return strings.Contains(slashed, m) }) {
			continue
		}
		d := filepath.Dir(f)
		dirs[d] = append(dirs[d], filepath.Base(f))
	}
	for _, d := range slices.Sorted(func(yield func(string) bool) {
		for d := range dirs {
			if !yield(d) {
				return
			}
		}
	}) {
		entries, err := os.ReadDir(d)
		if err != nil {
			// A directory outside the module that is gone held generated
			// code (cgo's work directory); inside it, a removed package.
			if within(d, c.root) {
				c.reasons = append(c.reasons, c.show(d)+" was removed")
			}
			continue
		}
		present := map[string]bool{}
		for _, e := range entries {
			name := e.Name()
			present[name] = true
			// As go build: tests, and names starting with . or _ (an
			// editor's lock file .#deploy.go), are not compiled.
			if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") || name == mainfile ||
				strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue // removed while listing: the next run sees it
			}
			c.compare(filepath.Join(d, name), fi)
		}
		for _, name := range dirs[d] {
			if !present[name] && name != mainfile && strings.HasSuffix(name, ".go") {
				c.reasons = append(c.reasons, c.show(filepath.Join(d, name))+" was removed")
			}
		}
	}
}

// show names a file relative to the module root when it is inside.
func (c *comparison) show(name string) string {
	if rel, err := filepath.Rel(c.root, name); err == nil && within(name, c.root) {
		return filepath.ToSlash(rel)
	}
	return name
}

// moduleCacheMarkers returns, for each module compiled in from the module
// cache, the part of its files' paths that says so: /<escaped
// path>@<escaped version>/. Modules replaced by a local directory have no
// marker: their files are checked like the main module's.
func (b *Binary) moduleCacheMarkers() []string {
	var ms []string
	for _, d := range b.Deps {
		m := d
		if d.Replace != nil {
			if d.Replace.Version == "" {
				continue // a directory replacement
			}
			m = d.Replace
		}
		if m.Version == "" || m.Version == "(devel)" {
			continue
		}
		ms = append(ms, "/"+escape(m.Path)+"@"+escape(m.Version)+"/")
	}
	return ms
}

// rebuild returns the command that rebuilds b from root and runs args
// again in cwd. A binary in mage's cache (named by a hash) is rebuilt by
// mage itself: -f forces the build even under MAGEFILE_HASHFAST. Any
// other binary came from -compile, with the same output path and -ldflags;
// mage resolves a relative -compile path from the magefiles directory, so
// the path is absolute.
func (b *Binary) rebuild(root, cwd string, args []string) string {
	mage := "mage"
	if usesMageTool(root) {
		mage = "go tool mage"
	}
	var quoted []string
	for _, a := range args {
		quoted = append(quoted, shell.Quote(a))
	}
	targets := strings.Join(quoted, " ")
	var steps []string
	if cwd != root {
		steps = append(steps, "cd "+shell.Quote(root))
	}
	if inMageCache(b.Path) {
		steps = append(steps, strings.TrimSpace(mage+" -f "+targets))
		if cwd != root {
			steps[len(steps)-1] = strings.TrimSpace(mage + " -w " + shell.Quote(cwd) + " -f " + targets)
		}
		return strings.Join(steps, " && ")
	}
	build := mage
	if b.Ldflags != "" {
		build += " -ldflags " + shell.Quote(b.Ldflags)
	}
	steps = append(steps, build+" -compile "+shell.Quote(b.Path))
	if cwd != root {
		steps = append(steps, "cd "+shell.Quote(cwd))
	}
	steps = append(steps, strings.TrimSpace(shell.Quote(b.Path)+" "+targets))
	return strings.Join(steps, " && ")
}

// inMageCache reports whether path is a binary of mage's cache: its name
// is the hex SHA-256 mage computes from the magefiles (mage.ExeName).
func inMageCache(path string) bool {
	name := strings.TrimSuffix(filepath.Base(path), ".exe")
	if len(name) != 64 {
		return false
	}
	return strings.Trim(name, "0123456789abcdef") == ""
}

// usesMageTool reports whether root's go.mod declares mage as a go tool
// (tool github.com/magefile/mage), so that go tool mage runs it.
func usesMageTool(root string) bool {
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return false
	}
	inBlock := false
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case inBlock && f[0] == ")":
			inBlock = false
		case inBlock && f[0] == "github.com/magefile/mage":
			return true
		case f[0] == "tool" && len(f) > 1 && f[1] == "(":
			inBlock = true
		case f[0] == "tool" && len(f) > 1 && f[1] == "github.com/magefile/mage":
			return true
		}
	}
	return false
}

// moduleRoot returns the nearest directory at or above dir holding a
// go.mod, or "".
func moduleRoot(dir string) string {
	for d := filepath.Clean(dir); ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		up := filepath.Dir(d)
		if up == d {
			return ""
		}
		d = up
	}
}

// within reports whether path is dir or inside it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// sameDir reports whether a and b name the same directory, through
// symbolic links (the working directory may be reached through one, the
// build's paths through another).
func sameDir(a, b string) bool {
	if a == b {
		return true
	}
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	return errA == nil && errB == nil && ra == rb
}

func isMainfile(f string) bool { return filepath.Base(filepath.FromSlash(f)) == mainfile }

// goroot returns the GOROOT the binary was built with: the directory its
// runtime's sources were in, as the file table records them.
func goroot() string {
	// runtime.GC is never inlined (it loops); its file is
	// <GOROOT>/src/runtime/mgc.go.
	pc := reflect.ValueOf(runtime.GC).Pointer()
	fn := runtime.FuncForPC(pc)
	if fn == nil {
		return ""
	}
	file, _ := fn.FileLine(pc)
	dir := filepath.Dir(filepath.FromSlash(file))
	if filepath.Base(dir) != "runtime" || filepath.Base(filepath.Dir(dir)) != "src" {
		return ""
	}
	return filepath.Dir(filepath.Dir(dir))
}

// escape is the module cache's case escaping (golang.org/x/mod/module's
// EscapePath): each upper-case letter becomes '!' and its lower case.
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
