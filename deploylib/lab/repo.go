package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// repoCommits are the commits of the lab repository, oldest first: a
// message and the files written before it (mode 0755 for names in bin/).
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
// branch main, committed with fixed names and dates so that the SHAs are
// the same in every lab. It returns the commits' SHAs, oldest first.
func makeRepo(dir string) (bare string, shas []string, err error) {
	bare = filepath.Join(dir, "repo.git")
	work := filepath.Join(dir, "repo-work")
	defer os.RemoveAll(work)
	git := func(date string, args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Env = gitEnv(dir, date)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out)), nil
	}
	if _, err := git("", "init", "--quiet", "--bare", "--initial-branch=main", bare); err != nil {
		return "", nil, err
	}
	if _, err := git("", "init", "--quiet", "--initial-branch=main", work); err != nil {
		return "", nil, err
	}
	for i, c := range repoCommits {
		for name, content := range c.files {
			p := filepath.Join(work, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return "", nil, err
			}
			mode := os.FileMode(0o644)
			if strings.HasPrefix(name, "bin/") {
				mode = 0o755
			}
			if err := os.WriteFile(p, []byte(content), mode); err != nil {
				return "", nil, err
			}
		}
		date := fmt.Sprintf("2026-01-0%dT12:00:00Z", i+1)
		if _, err := git(date, "-C", work, "add", "--all"); err != nil {
			return "", nil, err
		}
		if _, err := git(date, "-C", work, "commit", "--quiet", "--message", c.message); err != nil {
			return "", nil, err
		}
	}
	if _, err := git("", "-C", work, "push", "--quiet", bare, "main"); err != nil {
		return "", nil, err
	}
	out, err := git("", "-C", bare, "rev-list", "--reverse", "main")
	if err != nil {
		return "", nil, err
	}
	return bare, strings.Fields(out), nil
}

// gitEnv is an environment for git that no user or system configuration
// reaches, with a fixed author and committer.
func gitEnv(home, date string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"HOME="+home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Capstan Lab",
		"GIT_AUTHOR_EMAIL=lab@capstan.invalid",
		"GIT_COMMITTER_NAME=Capstan Lab",
		"GIT_COMMITTER_EMAIL=lab@capstan.invalid",
	)
	if date != "" {
		env = append(env, "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	}
	return env
}
