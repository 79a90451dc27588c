package engine

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The tests of this package share one process: what one test leaves in
// process-wide state must not change what another one prints. Three such
// states made TestRunAdHocFilters (now in package ops) flaky in CI (a "0.000s" that became
// "0.001s" on a busy machine); the tests below pin each of them down.
//
// 1. The wall clock. A run of an isolated Deployment reads a clock that
// stands still ([testClocks]) unless the test passes WithClock.
//
// 2. The environment. Only env.go reads it (readEnv, lookupEnv); the runs
// of an isolated Deployment read the test's own (setenv).
//
// 3. The secret registry. Redaction stays process-wide on purpose: a
// Secret made anywhere (in init, in a hook, by SecretFromEnv before any
// run) must be redacted from everything the process prints, errors mage
// prints after the run included, and a registry scoped to a run would
// let such a secret through. Over-redaction is the safe failure. So it is
// the tests' secrets that must not collide with other tests' output:
// TestMain checks, after every test ran, that each form of every secret
// the tests registered is at least minTestSecretLen characters long and
// appears in no golden file.

// minTestSecretLen is the shortest form of a secret a test may register
// (a line of output matches it only if it holds that secret).
const minTestSecretLen = 12

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := checkTestSecrets(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: the tests' secrets could redact other tests' output:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// checkTestSecrets reports registered secret forms that could match
// ordinary output: short ones, and ones found in testdata.
func checkTestSecrets() error {
	golden, err := os.ReadDir("testdata")
	if err != nil {
		return err
	}
	var texts []string
	for _, f := range golden {
		if b, err := os.ReadFile(filepath.Join("testdata", f.Name())); err == nil {
			texts = append(texts, string(b))
		}
	}
	secretsMu.RLock()
	defer secretsMu.RUnlock()
	var bad []string
	for _, s := range secrets {
		if strings.ContainsAny(s, "\r\n") {
			continue // output is redacted line by line: it never matches
		}
		if len(s) < minTestSecretLen {
			bad = append(bad, fmt.Sprintf("%q is shorter than %d characters", s, minTestSecretLen))
		}
		for _, t := range texts {
			if strings.Contains(t, s) {
				bad = append(bad, fmt.Sprintf("%q is in a golden file", s))
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return nil
}

func TestCheckTestSecrets(t *testing.T) {
	// The check itself: a short secret is reported. Registering one would
	// leak into the other tests, so the registry is swapped for the check.
	secretsMu.Lock()
	saved := secrets
	secrets = []string{"ok-a-long-enough-one", "shorty"}
	secretsMu.Unlock()
	err := checkTestSecrets()
	secretsMu.Lock()
	secrets = saved
	secretsMu.Unlock()
	if err == nil || !strings.Contains(err.Error(), `"shorty" is shorter`) || strings.Contains(err.Error(), "ok-a-long") {
		t.Errorf("checkTestSecrets = %v", err)
	}
}

// Runs of an isolated Deployment read a clock of their own, and runs
// started one after the other get later times (the operator tools' tests
// check what an isolated run prints: ops.TestIsolatedRunsIgnoreTheWallClock).
func TestIsolatedRunsGetLaterTimes(t *testing.T) {
	d := isolate(t, testConfig())
	c := d.clock
	if c == nil {
		t.Fatal("an isolated Deployment has no clock of its own")
	}
	if a, b := c()(), c()(); !b.After(a) {
		t.Errorf("the second run's clock (%v) is not later than the first's (%v)", b, a)
	}
}

// TestOnlyEnvGoReadsTheEnvironment: no file of the package but env.go
// calls os.Getenv or os.LookupEnv, so that a run sees only what readEnv
// read (the test's own environment, for an isolated Deployment).
func TestOnlyEnvGoReadsTheEnvironment(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || name == "env.go" {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == "os" && (sel.Sel.Name == "Getenv" || sel.Sel.Name == "LookupEnv") {
				t.Errorf("%s reads the environment (os.%s): read it in env.go's readEnv", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
}
