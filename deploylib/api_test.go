package deploylib_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// engineOnly are the engine's exported names that are not part of the
// team-facing API: the seam the operator tools use (session.go).
var engineOnly = []string{
	"CommandErrors", "CommandStatus", "CountOf", "HealthCheckDefaults", "InstallTools", "IsGit", "Isolate",
	"OpenSession", "Redact", "Redacted", "SSHConfig", "ServerMatches", "Session", "SessionOf", "ShortSHA",
	"StartReadOnly", "StrategyName", "SubscribeSignals", "Tools",
}

// TestAPINamesEveryEngineExport: every name the engine and the operator
// tools export is declared in deploylib too (an alias, a variable or a
// wrapper), unless engineOnly lists it, so nothing a team needs can be
// left behind in an internal package; and deploylib declares nothing they
// do not export.
func TestAPINamesEveryEngineExport(t *testing.T) {
	engine := exportedNames(t, filepath.Join("internal", "engine"))
	for name := range exportedNames(t, filepath.Join("internal", "ops")) {
		engine[name] = true
	}
	api := exportedNames(t, ".")
	for name := range engine {
		if !api[name] && !slices.Contains(engineOnly, name) {
			t.Errorf("the engine exports %s but deploylib does not: declare it in deploylib or list it in engineOnly", name)
		}
	}
	for name := range api {
		if !engine[name] {
			t.Errorf("deploylib declares %s, which the engine does not export", name)
		}
		if slices.Contains(engineOnly, name) {
			t.Errorf("%s is in engineOnly but deploylib declares it", name)
		}
	}
}

// exportedNames returns the exported top-level names declared in the
// non-test Go files of dir.
func exportedNames(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	fset := token.NewFileSet()
	for _, fn := range files {
		if strings.HasSuffix(fn, "_test.go") {
			continue
		}
		src, err := os.ReadFile(fn)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, fn, src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.IsExported() {
					names[d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							names[s.Name.Name] = true
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								names[n.Name] = true
							}
						}
					}
				}
			}
		}
	}
	if len(names) == 0 {
		t.Fatalf("no exported names in %s", dir)
	}
	return names
}
