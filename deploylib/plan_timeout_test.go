//go:build unix

package deploylib

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/lab"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Config.CommandTimeout is per command inside a fused script too: a step
// that hangs (git:update's fetch, blocked on a FIFO) is stopped once it
// alone ran CommandTimeout, not CommandTimeout times the script's steps,
// and the error names the step's task and host and the timeout as
// configured.
func TestCommandTimeoutPerStepOfAScript(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 1})
	l.RequireSharedDeployTo(t)
	const timeout = 3 * time.Second
	d := isolate(t, Config{Application: "app", RepoURL: l.Repo, DeployTo: l.Hosts[0].DeployTo, CommandTimeout: timeout})
	h := l.Hosts[0]
	st := Stage{Name: "lab", SSH: SSHOptions{KnownHostsFile: l.KnownHosts, KnownHostsOnly: true, IdentityFiles: []string{l.ClientKey}, ConfigFile: "none"},
		Servers: []Server{{Host: l.User + "@" + h.Addr, Roles: []string{"app"}}}}
	deploy := func(ctx context.Context, at time.Time) (string, error) {
		var out bytes.Buffer
		err := d.Start(ctx, Deploy, WithStage(st), WithOutput(&out), WithColor(false), WithLogFile(""), WithClock(func() time.Time { return at }))
		return out.String(), err
	}
	if out, err := deploy(context.Background(), time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)); err != nil {
		t.Fatalf("first deploy: %v\n%s", err, out)
	}

	// A new commit makes the next deploy fetch; the mirror's fetch runs
	// its upload-pack through a shell that first reads a FIFO, which
	// nothing ever writes to.
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", l.Repo}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	sha := git("commit-tree", "main^{tree}", "-p", "main", "-m", "a commit the mirror lacks")
	git("update-ref", "refs/heads/main", sha)
	dir := filepath.Join(l.Dir, "hang")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(fifo, 0o666)
	if err := h.Execute(context.Background(), "git", "-C", filepath.Join(l.Hosts[0].DeployTo, "repo"), "config", "remote.origin.uploadpack",
		"cat "+shell.Quote(fifo)+" >/dev/null; git-upload-pack"); err != nil {
		t.Fatal(err)
	}

	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := deploy(context.Background(), time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC))
		done <- result{out, err}
	}()
	// Opening the FIFO for writing returns once the step has opened it
	// for reading: the step hangs from here on.
	opened := make(chan *os.File, 1)
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
		}
		opened <- w
	}()
	var hung time.Time
	var res result
	select {
	case w := <-opened:
		hung = time.Now()
		defer w.Close()
		res = <-done
	case res = <-done:
		t.Fatalf("the deploy ended before the fetch hung: %v\n%s", res.err, res.out)
	}
	took := time.Since(hung)
	var te *TimeoutError
	if !errors.As(res.err, &te) || te.After != timeout {
		t.Fatalf("error = %v, want a TimeoutError after %v\n%s", res.err, timeout, res.out)
	}
	for _, want := range []string{"git:update", h.Addr, "timed out after 3s"} {
		if !strings.Contains(res.err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, res.err)
		}
	}
	// The script had more steps: with the old timeout (3s per step, for
	// the whole script) the fetch hung for several times 3s.
	if took > timeout+6*time.Second {
		t.Errorf("the hung step was stopped %v after it hung, want about %v\n%s", took, timeout, res.out)
	}
	t.Logf("stopped %v after the step hung", took)
}
