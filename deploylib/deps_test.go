package deploylib_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestProductionCodeDoesNotLinkTesting: no package that a team's mage
// binary links, nor this repository's own magefiles, depends on the
// testing package (which the test kit deploylib/lab and the tools under
// deploylib/internal may).
func TestProductionCodeDoesNotLinkTesting(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	goList := func(args ...string) []string {
		t.Helper()
		cmd := exec.Command("go", append([]string{"list"}, args...)...)
		cmd.Dir = ".." // the module's root
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return strings.Fields(string(out))
	}
	const mod = "github.com/capstan-deploy/capstan/"
	testKit := func(p string) bool {
		return p == mod+"deploylib/lab" || strings.HasPrefix(p, mod+"deploylib/lab/") ||
			strings.Contains(p+"/", "/internal/")
	}
	roots := [][]string{{"./deploylib", "./deploylib/targets/..."}}
	var others []string
	for _, p := range goList("./...") {
		if !testKit(p) {
			others = append(others, p)
		}
	}
	roots = append(roots, others, []string{"-tags", "mage", "./magefiles"})
	for _, args := range roots {
		deps := goList(append([]string{"-deps"}, args...)...)
		for _, d := range deps {
			if d == "testing" || strings.HasPrefix(d, "testing/") {
				importers := goList(append([]string{"-deps", "-f",
					`{{range .Imports}}{{if eq . "` + d + `"}}{{$.ImportPath}}{{end}}{{end}}`}, args...)...)
				t.Errorf("go list -deps %s includes %s, imported by %s", strings.Join(args, " "), d, strings.Join(importers, ", "))
			}
		}
		if !slices.Contains(deps, "github.com/capstan-deploy/capstan/deploylib") {
			t.Errorf("go list -deps %s does not even include deploylib: %v", strings.Join(args, " "), deps)
		}
	}
}
