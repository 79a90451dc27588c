package lab_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsHookExample keeps the section "Against real servers" of
// docs/testing.md and the files that run its example the same: the hook's
// block is part of example_hook_test.go, and the test's block, below its
// package clause, is example_hooktest_test.go below its own.
func TestDocsHookExample(t *testing.T) {
	const doc, heading = "../../docs/testing.md", "## Against real servers\n"
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	i := strings.Index(page, heading)
	if i < 0 {
		t.Fatalf("%s has no section %q", doc, strings.TrimSpace(heading))
	}
	section := page[i+len(heading):]
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

	hook := afterLine("the docs' hook block", blocks[0][1], "// magefiles/deploy.go")
	if !strings.Contains(read("example_hook_test.go"), hook) {
		t.Errorf("the docs' hook is not in example_hook_test.go; it reads:\n%s", hook)
	}
	test := afterLine("the docs' test block", blocks[1][1], "// magefiles/deploy_test.go")
	if !strings.HasPrefix(test, "//go:build mage\n\npackage main\n") {
		t.Errorf("the docs' test file does not start with the build tag and package main:\n%s", test)
	}
	test = afterLine("the docs' test block", test, "package main")
	if file := afterLine("example_hooktest_test.go", read("example_hooktest_test.go"), "package lab_test"); test != file {
		t.Errorf("the docs' test and example_hooktest_test.go differ:\ndocs:\n%s\nfile:\n%s", test, file)
	}
}

// docPages returns README.md and docs/*.md, as paths from this package.
func docPages(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatal("no docs/*.md")
	}
	return append([]string{"../../README.md"}, pages...)
}

var (
	// mdLink matches an inline Markdown link or image, [text](target).
	mdLink = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)\)`)
	// codeSpan matches inline code, whose brackets are not links.
	codeSpan = regexp.MustCompile("`[^`]*`")
	// slugDrop matches what GitHub drops from a heading to make its anchor.
	slugDrop = regexp.MustCompile(`[^\p{L}\p{N} _-]`)
)

// mdProse returns the lines of a Markdown page outside fenced code blocks,
// each with its line number.
func mdProse(page string) map[int]string {
	lines := map[int]string{}
	fenced := false
	for i, line := range strings.Split(page, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			lines[i+1] = line
		}
	}
	return lines
}

// mdAnchors returns the anchors GitHub gives the headings of a page:
// lower case, punctuation dropped, spaces made hyphens, and -1, -2, ...
// after a repeated one.
func mdAnchors(page string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	prose := mdProse(page)
	for n := 1; n <= len(strings.Split(page, "\n")); n++ {
		line, ok := prose[n]
		if !ok || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		slug := strings.ReplaceAll(slugDrop.ReplaceAllString(strings.ToLower(text), ""), " ", "-")
		if k := seen[slug]; k > 0 {
			anchors[fmt.Sprintf("%s-%d", slug, k)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	}
	return anchors
}

// TestDocsLinks checks every relative link of README.md and docs/*.md:
// the file it names exists, and so does the heading its #anchor names.
// It also checks that each docs page starts with its title and that the
// README links to every one of them.
func TestDocsLinks(t *testing.T) {
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	linkedFromREADME := map[string]bool{}
	for _, page := range docPages(t) {
		text := read(page)
		name := strings.TrimPrefix(page, "../../")
		if strings.HasPrefix(name, "docs/") && !strings.HasPrefix(text, "# ") {
			t.Errorf("%s does not start with its title (a line \"# ...\")", name)
		}
		prose := mdProse(text)
		for n := 1; n <= len(strings.Split(text, "\n")); n++ {
			line, ok := prose[n]
			if !ok {
				continue
			}
			for _, m := range mdLink.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, ""), -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				dest := page
				if file != "" {
					dest = filepath.Join(filepath.Dir(page), file)
				}
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s:%d: link %q: %v", name, n, target, err)
					continue
				}
				if name == "README.md" {
					linkedFromREADME[filepath.Clean(dest)] = true
				}
				if anchor == "" {
					continue
				}
				if !strings.HasSuffix(dest, ".md") {
					t.Errorf("%s:%d: link %q: an anchor into a file that is not Markdown", name, n, target)
					continue
				}
				if !mdAnchors(read(dest))[anchor] {
					t.Errorf("%s:%d: link %q: %s has no heading with the anchor #%s", name, n, target, strings.TrimPrefix(dest, "../../"), anchor)
				}
			}
		}
	}
	for _, page := range docPages(t)[1:] {
		if !linkedFromREADME[filepath.Clean(page)] {
			t.Errorf("README.md does not link to %s", strings.TrimPrefix(page, "../../"))
		}
	}
}

// TestMDAnchors checks the anchors TestDocsLinks expects against headings
// whose anchors GitHub is known to make.
func TestMDAnchors(t *testing.T) {
	tests := []struct {
		heading, anchor string
	}{
		{"## A shell on a host: ssh", "a-shell-on-a-host-ssh"},
		{"## Before Capstan runs: the cost of `go tool mage`", "before-capstan-runs-the-cost-of-go-tool-mage"},
		{"### Targets (DESIGN.md section 6)", "targets-designmd-section-6"},
		{"## The doctor: deploy:check", "the-doctor-deploycheck"},
		{"## Invariants, checked at random", "invariants-checked-at-random"},
		{"# Capstan", "capstan"},
	}
	for _, tt := range tests {
		if got := mdAnchors(tt.heading + "\n"); !got[tt.anchor] || len(got) != 1 {
			t.Errorf("anchors of %q = %v, want only %q", tt.heading, got, tt.anchor)
		}
	}
	page := "# A\n```\n# not a heading\n```\n## A\n"
	if got, want := mdAnchors(page), map[string]bool{"a": true, "a-1": true}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("anchors of %q = %v, want %v", page, got, want)
	}
}
