package lab_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEHookExample keeps the README's section "Testing your hooks
// against real servers" and the files that run its example the same: the
// hook's block is part of example_hook_test.go, and the test's block,
// below its package clause, is example_hooktest_test.go below its own.
func TestREADMEHookExample(t *testing.T) {
	const heading = "## Testing your hooks against real servers\n"
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i := strings.Index(readme, heading)
	if i < 0 {
		t.Fatalf("README.md has no section %q", strings.TrimSpace(heading))
	}
	section := readme[i+len(heading):]
	if j := strings.Index(section, "\n## "); j >= 0 {
		section = section[:j]
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) != 2 {
		t.Fatalf("the section has %d Go blocks, want 2 (the hook and its test)", len(blocks))
	}
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// afterLine returns what follows the line line in s.
	afterLine := func(what, s, line string) string {
		t.Helper()
		_, rest, ok := strings.Cut(s, line+"\n")
		if !ok {
			t.Fatalf("%s has no line %q", what, line)
		}
		return rest
	}

	hook := afterLine("the README's hook block", blocks[0][1], "// magefiles/deploy.go")
	if !strings.Contains(read("example_hook_test.go"), hook) {
		t.Errorf("the README's hook is not in example_hook_test.go; it reads:\n%s", hook)
	}
	test := afterLine("the README's test block", blocks[1][1], "// magefiles/deploy_test.go")
	if !strings.HasPrefix(test, "//go:build mage\n\npackage main\n") {
		t.Errorf("the README's test file does not start with the build tag and package main:\n%s", test)
	}
	test = afterLine("the README's test block", test, "package main")
	if file := afterLine("example_hooktest_test.go", read("example_hooktest_test.go"), "package lab_test"); test != file {
		t.Errorf("the README's test and example_hooktest_test.go differ:\nREADME:\n%s\nfile:\n%s", test, file)
	}
}
