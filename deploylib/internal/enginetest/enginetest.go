// Package enginetest holds what the tests of the engine and of the
// operator tools (packages engine and ops) share: a test's own
// environment and clocks, golden files, git repositories, a console
// writer safe for several hosts, and recorders answering per host. It
// imports neither package, so the engine's own tests can use it.
package enginetest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Env is the environment the runs of one test's Deployment read instead
// of the process's.
type Env struct {
	mu   sync.Mutex
	vars map[string]string
}

// envs maps each key given to NewEnv (a Deployment) to its Env.
var envs sync.Map

// NewEnv returns an environment holding vars, found again with EnvOf(key)
// until t ends.
func NewEnv(t testing.TB, key any, vars map[string]string) *Env {
	e := &Env{vars: vars}
	envs.Store(key, e)
	t.Cleanup(func() { envs.Delete(key) })
	return e
}

// EnvOf returns the environment NewEnv made for key.
func EnvOf(key any) *Env {
	e, _ := envs.Load(key)
	return e.(*Env)
}

// Get returns k's value, "" when unset.
func (e *Env) Get(k string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.vars[k]
}

// Set sets k to v.
func (e *Env) Set(k, v string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.vars[k] = v
}

// Clocks returns the clock factory of an isolated Deployment: the n-th
// run (from 0) sees the time stand still at 2026-11-25 21:40:42 UTC plus
// n minutes, so every duration it prints is 0.000s (00:00 elapsed), and
// runs made one after the other get release names in the order they
// started.
func Clocks() func() func() time.Time {
	var runs atomic.Int64
	base := time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC)
	return func() func() time.Time {
		now := base.Add(time.Duration(runs.Add(1)-1) * time.Minute)
		return func() time.Time { return now }
	}
}

// FixedClock returns a clock starting at 2026-11-25 21:40:42 UTC that
// advances by step on every call.
func FixedClock(step time.Duration) func() time.Time {
	t := time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC)
	return func() time.Time {
		now := t
		t = t.Add(step)
		return now
	}
}

// Golden compares got with testdata/name, rewriting it under -update.
func Golden(t testing.TB, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file; run go test -update in its package and review the diff\n--- got\n%s", name, got)
	}
}

// NewGitRepo makes a repository with one commit on main and returns its
// path.
func NewGitRepo(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	GitIn(t, dir, "init", "-q", "-b", "main")
	os.MkdirAll(filepath.Join(dir, "config"), 0o755)
	os.WriteFile(filepath.Join(dir, "README"), []byte("v1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "config", "secrets.yml"), []byte("from the repo\n"), 0o644)
	GitIn(t, dir, "add", "-A")
	GitIn(t, dir, "commit", "-q", "-m", "v1")
	return dir
}

// GitIn runs git with args in dir and returns its output, trimmed.
func GitIn(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Commit writes content to README in dir, commits it and returns the
// commit.
func Commit(t testing.TB, dir, content string) string {
	t.Helper()
	os.WriteFile(filepath.Join(dir, "README"), []byte(content), 0o644)
	GitIn(t, dir, "commit", "-q", "-am", content)
	return GitIn(t, dir, "rev-parse", "HEAD")
}

// AssertFile fails t unless the file p holds want.
func AssertFile(t testing.TB, p, want string) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	if string(got) != want {
		t.Errorf("%s = %q, want %q", p, got, want)
	}
}

// SyncWriter is a console output that several hosts write at once.
type SyncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *SyncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *SyncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// HookConn is a Recorder whose commands can be intercepted.
type HookConn struct {
	*backend.Recorder
	Hook func(ctx context.Context, host, cmd string, stdio backend.Stdio) (handled bool, err error)
}

func (c *HookConn) Run(ctx context.Context, cmd shell.Command, stdio backend.Stdio) error {
	if c.Hook != nil {
		if stdio.Stdout == nil {
			stdio.Stdout = io.Discard
		}
		if handled, err := c.Hook(ctx, c.Host, cmd.String(), stdio); handled {
			return err
		}
	}
	return c.Recorder.Run(ctx, cmd, stdio)
}

// PerHost answers each host from its own Recorder; a host with no
// Recorder cannot be reached.
func PerHost(recs map[string]*backend.Recorder) func(host string) (backend.Conn, error) {
	return func(host string) (backend.Conn, error) {
		if r, ok := recs[host]; ok {
			return r, nil
		}
		return nil, errors.New("dial tcp " + host + ":22: connect: connection refused")
	}
}

// MainWithoutLogFile runs a test package's tests with CAPSTAN_LOG_FILE=off,
// as a TestMain: the runs they start read it as a user's would, so none
// appends to log/deploy.log in the package directory. A test that checks
// the log names its own file with WithLogFile. It exits with m's code.
func MainWithoutLogFile(m *testing.M) {
	if err := os.Setenv("CAPSTAN_LOG_FILE", "off"); err != nil {
		fmt.Fprintln(os.Stderr, "setting CAPSTAN_LOG_FILE:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
