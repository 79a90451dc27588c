//go:build unix

package engine

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// labStage is a stage of l's hosts, reached with the lab's keys only.
func labStage(l *lab.Lab) Stage {
	st := Stage{Name: "lab", SSH: SSHOptions{KnownHostsFile: l.KnownHosts, KnownHostsOnly: true, IdentityFiles: []string{l.ClientKey}, ConfigFile: "none"}}
	for _, h := range l.Hosts {
		st.Servers = append(st.Servers, Server{Host: l.User + "@" + h.Addr, Roles: []string{"app"}})
	}
	return st
}

// labDeployAt returns a function that deploys st with d as if the clock
// read at (the release's name), with no log file, and returns the console
// output.
func labDeployAt(d *Deployment, st Stage) func(at time.Time) (string, error) {
	return func(at time.Time) (string, error) {
		var out bytes.Buffer
		err := d.Start(context.Background(), Deploy, WithStage(st), WithOutput(&out), WithColor(false), WithLogFile(""), WithClock(func() time.Time { return at }))
		return out.String(), err
	}
}

// labCommit adds a commit to the lab's repository (branch main), so that
// the next deploy fetches.
func labCommit(t *testing.T, l *lab.Lab) {
	t.Helper()
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", l.Repo}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
			"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("update-ref", "refs/heads/main", git("commit-tree", "main^{tree}", "-p", "main", "-m", "a commit the mirrors lack"))
}

// labShared makes a directory every lab host's user can write to, with a
// FIFO in it, and returns both paths.
func labShared(t *testing.T, l *lab.Lab, name string) (dir, fifo string) {
	t.Helper()
	dir = filepath.Join(l.Dir, name)
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	fifo = filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(fifo, 0o666)
	return dir, fifo
}

// setUploadPack makes the fetches of h's mirror at deployTo run their
// upload-pack through the shell line pre (git appends the repository's
// path): pre runs inside git:update's step, with its environment.
func setUploadPack(t *testing.T, h *lab.Host, deployTo, pre string) {
	t.Helper()
	if err := h.Execute(context.Background(), "git", "-C", filepath.Join(deployTo, "repo"), "config", "remote.origin.uploadpack", pre+"; git-upload-pack"); err != nil {
		t.Fatal(err)
	}
}
