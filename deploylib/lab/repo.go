package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// repoCommits are the commits of the lab repository, oldest first: a
// message and the files it adds or changes (mode 0755 for names in bin/).
var repoCommits = []struct {
	message string
	files   map[string]string
}{
	{"Initial commit", map[string]string{
		"README.md":      "# Lab app\n\nDeployed by the Capstan test lab.\n",
		"config/app.yml": "name: lab\nenv: test\n",
	}},
	{"Add bin/hello and lib/", map[string]string{
		"bin/hello":       "#!/bin/sh\necho hello from the lab app\n",
		"lib/greeting.sh": "greeting() { echo hello; }\n",
		"README.md":       "# Lab app\n\nDeployed by the Capstan test lab.\nRun bin/hello.\n",
	}},
}

// makeRepo creates a bare repository at dir/repo.git with repoCommits on
// branch main, written by one git fast-import with fixed names and dates,
// so that the SHAs are the same in every lab. It returns the commits'
// SHAs, oldest first.
func makeRepo(ctx context.Context, dir string) (bare string, shas []string, err error) {
	bare = filepath.Join(dir, "repo.git")
	marks := filepath.Join(dir, "repo.marks")
	defer os.Remove(marks)
	git := func(stdin string, args ...string) error {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Env = gitEnv(dir)
		cmd.Stdin = strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := git("", "init", "--quiet", "--bare", "--initial-branch=main", bare); err != nil {
		return "", nil, err
	}
	if err := git(fastImportStream(), "-C", bare, "fast-import", "--quiet", "--export-marks="+marks); err != nil {
		return "", nil, err
	}
	b, err := os.ReadFile(marks)
	if err != nil {
		return "", nil, err
	}
	sha := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if mark, s, ok := strings.Cut(line, " "); ok {
			sha[mark] = s
		}
	}
	for i := range repoCommits {
		shas = append(shas, sha[fmt.Sprintf(":%d", i+1)])
	}
	return bare, shas, nil
}

// fastImportStream renders repoCommits for git fast-import: commit i is
// mark :i+1, dated 12:00 UTC on 2026-01-0i+1.
func fastImportStream() string {
	var b strings.Builder
	data := func(s string) { fmt.Fprintf(&b, "data %d\n%s\n", len(s), s) }
	for i, c := range repoCommits {
		when := time.Date(2026, 1, i+1, 12, 0, 0, 0, time.UTC).Unix()
		fmt.Fprintf(&b, "commit refs/heads/main\nmark :%d\n", i+1)
		fmt.Fprintf(&b, "author Capstan Lab <lab@capstan.invalid> %d +0000\n", when)
		fmt.Fprintf(&b, "committer Capstan Lab <lab@capstan.invalid> %d +0000\n", when)
		data(c.message + "\n")
		if i > 0 {
			fmt.Fprintf(&b, "from :%d\n", i)
		}
		names := make([]string, 0, len(c.files))
		for name := range c.files {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			mode := "100644"
			if strings.HasPrefix(name, "bin/") {
				mode = "100755"
			}
			fmt.Fprintf(&b, "M %s inline %s\n", mode, name)
			data(c.files[name])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// gitEnv is an environment for git that no user or system configuration
// reaches.
func gitEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, "HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
}
