package engine

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/backend"
)

// localDeployDir is where the local stage deploys, relative to the
// repository's top level. The repository's .gitignore lists it.
const localDeployDir = ".deploy/local"

// LocalStage returns the embedded default stage for the git repository
// containing dir: one server, this machine, reached through /bin/sh; the
// repository itself as the source; its checked-out branch (or commit, on a
// detached HEAD) as the revision; and <top>/.deploy/local as deploy_to.
//
// Where this machine cannot run commands through /bin/sh (Windows), it
// fails with an error wrapping [backend.ErrNoLocalShell].
func LocalStage(dir string) (Stage, error) {
	if err := backend.LocalAvailable(); err != nil {
		return Stage{}, fmt.Errorf("local stage: %w", err)
	}
	top, err := gitOutput(dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return Stage{}, fmt.Errorf("local stage: %s is not inside a git repository: %w", dir, err)
	}
	branch, err := gitOutput(top, "symbolic-ref", "--quiet", "--short", "HEAD")
	if err != nil || branch == "" {
		if branch, err = gitOutput(top, "rev-parse", "--verify", "HEAD"); err != nil {
			return Stage{}, fmt.Errorf("local stage: %s has no commit to deploy: %w", top, err)
		}
	}
	return Stage{
		Name:     "local",
		Branch:   branch,
		RepoURL:  top,
		DeployTo: filepath.Join(top, filepath.FromSlash(localDeployDir)),
		Servers: []Server{
			{Host: "localhost", Roles: []string{"app", "web", "db"}, Primary: true, Local: true},
		},
	}, nil
}

func gitOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
			return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
