//go:build unix

package invariant

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Runs that need a real signal, a process of their own (two runs at once)
// or hooks (which cannot be removed from the process once registered, and
// would change every later run of the test process) run in a child: this
// test binary in helper mode, given a childSpec. It exits as mage does:
// with ExitStatus() of the error when it has one, else 1.

const helperEnv = "CAPSTAN_INVARIANT_HELPER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(helperEnv); spec != "" {
		os.Exit(helperMain(spec))
	}
	os.Exit(m.Run())
}

// childSpec is what a child run needs.
type childSpec struct {
	Config   configSpec
	Stage    deploylib.Stage
	Task     string // "deploy", "deploy:rollback", or a standard task
	At       time.Time
	Rollback string // ROLLBACK_RELEASE
	// Start, when set, is a FIFO the child reads a line from before it
	// starts, so that two children start together.
	Start string
	// A pause (see pauseCmd): before program PauseStep of the PauseCommand-th
	// command of the host at PauseAddr.
	PauseAddr                 string
	PauseCommand, PauseStep   int
	PauseDir, ShimDir         string
	User, KnownHosts, KeyFile string
	// A hook that fails on the host at HookAddr, before or after HookTask.
	HookTask  string
	HookAfter bool
	HookAddr  string
	// ExclDir, when set, is where the child records being inside the
	// section its lock protects (from after deploy:lock to the end of the
	// flow; from before deploy:publishing with DeclHook, whose hook a Go
	// function after the lock would keep out of the lock's script);
	// finding another run inside is written to ExclDir/violation-*.
	ExclDir string
	// DeclHook, when set, is a directory on every host where a
	// declarative hook after deploy:updated appends the child's process
	// id to the file "ran": in the script that takes the lock, after the
	// run's go-ahead, on a stage of several hosts.
	DeclHook string
	// HoldDir, when set, holds the FIFOs event and go: after deploy:lock
	// the child reports on event and waits for a line on go.
	HoldDir string
	// Secret, when set, is registered as a deploylib.Secret, and a hook
	// after deploy:updated prints it on the host at SecretAddr after
	// SecretBefore bytes of one line and before SecretAfter more; with
	// SecretFail on standard error, and the command fails.
	Secret                    string
	SecretAddr                string
	SecretBefore, SecretAfter int
	SecretFail                bool
	// LogFile is the run's log file ("" for none).
	LogFile string
}

// configSpec is the part of deploylib.Config a child needs, in JSON.
type configSpec struct {
	RepoURL, Branch, DeployTo string
	KeepReleases              int
	LinkedFiles, LinkedDirs   []string
	Strategy                  Strategy
	Build, Work               string
}

func (c configSpec) config() deploylib.Config {
	cfg := deploylib.Config{Application: "app", RepoURL: c.RepoURL, Branch: c.Branch, DeployTo: c.DeployTo,
		KeepReleases: c.KeepReleases, LinkedFiles: c.LinkedFiles, LinkedDirs: c.LinkedDirs, Strategy: deploylib.Git{}}
	switch c.Strategy {
	case GitShallow:
		cfg.Strategy = deploylib.Git{ShallowClone: 1, MaxConcurrent: 1}
	case UploadArchive:
		cfg.Strategy = deploylib.Upload{Repo: c.Work}
	case UploadDir, UploadEmpty, UploadSymlink:
		cfg.Strategy = deploylib.Upload{Dir: c.Build, Repo: c.Work}
	}
	return cfg
}

func helperMain(raw string) int {
	var spec childSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	deploylib.Configure(spec.Config.config())
	os.Setenv("ROLLBACK_RELEASE", spec.Rollback)
	task, err := deploylib.TaskByName(spec.Task)
	if spec.Task == "deploy" {
		task, err = deploylib.Deploy, nil
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	if spec.HookTask != "" {
		hookTask, err := deploylib.TaskByName(spec.HookTask)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 2
		}
		fail := func(ctx context.Context) error {
			return deploylib.On(ctx, deploylib.All(), func(ctx context.Context, h *deploylib.Host) error {
				if !strings.HasSuffix(h.Server.Host, "@"+spec.HookAddr) {
					return nil
				}
				return h.Execute(ctx, "sh", "-c", "echo "+hookFailure+" >&2; exit 3")
			})
		}
		if spec.HookAfter {
			deploylib.After(hookTask, fail)
		} else {
			deploylib.Before(hookTask, fail)
		}
	}
	if spec.DeclHook != "" {
		deploylib.After(deploylib.Updated, deploylib.RemoteSh("invariant:hook", "Records the run it ran for.", deploylib.All(),
			deploylib.InDir(spec.DeclHook), "echo "+strconv.Itoa(os.Getpid())+" >> ran"))
	}
	if spec.ExclDir != "" {
		enter := deploylib.Lock
		if spec.DeclHook != "" {
			enter = deploylib.Publishing
		}
		registerExclusion(spec.ExclDir, enter, spec.DeclHook != "")
	}
	if spec.HoldDir != "" {
		holdAfterLock(spec.HoldDir)
	}
	if spec.Secret != "" {
		secretHook(deploylib.NewSecret(spec.Secret), spec.SecretAddr, spec.SecretBefore, spec.SecretAfter, spec.SecretFail)
	}
	opts := []deploylib.Option{deploylib.WithStage(spec.Stage), deploylib.WithColor(false), deploylib.WithLogFile(spec.LogFile),
		deploylib.WithClock(func() time.Time { return spec.At })}
	if spec.PauseAddr != "" {
		opts = append(opts, deploylib.WithDialer(spec.pausingDialer()))
	}
	if spec.Start != "" {
		// One byte each: the parent writes one per child.
		f, err := os.Open(spec.Start)
		if err == nil {
			f.Read(make([]byte, 1))
			f.Close()
		}
	}
	err = deploylib.Start(context.Background(), task, opts...)
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "Error:", err)
	if es, ok := err.(interface{ ExitStatus() int }); ok {
		return es.ExitStatus()
	}
	return 1
}

// hookFailure is what the failing hook prints on standard error; a
// failure report must carry it.
const hookFailure = "invariant-hook-failure"

// registerExclusion hangs the hooks that record the section a run's lock
// protects, entered after enter (before it when before is set).
func registerExclusion(dir string, enter *deploylib.Task, before bool) {
	inside := filepath.Join(dir, "inside")
	var mine atomic.Bool
	hang := deploylib.After[func(context.Context) error]
	if before {
		hang = deploylib.Before[func(context.Context) error]
	}
	hang(enter, func(context.Context) error {
		if err := os.Mkdir(inside, 0o755); err != nil {
			b, _ := os.ReadFile(filepath.Join(inside, "pid"))
			os.WriteFile(filepath.Join(dir, "violation-"+strconv.Itoa(os.Getpid())), []byte(fmt.Sprintf(
				"process %d took the deploy lock while process %s was still inside its flow\n", os.Getpid(), b)), 0o644)
			return nil
		}
		os.WriteFile(filepath.Join(inside, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o644)
		mine.Store(true)
		return nil
	})
	leave := func(context.Context) error {
		if mine.CompareAndSwap(true, false) {
			os.RemoveAll(inside)
		}
		return nil
	}
	deploylib.After(deploylib.Finished, leave)
	deploylib.After(deploylib.Failed, leave)
}

// pausingDialer dials the lab's hosts and, on the host at PauseAddr,
// wraps the PauseCommand-th command in pauseCmd.
func (spec childSpec) pausingDialer() func(ctx context.Context, s deploylib.Server) (backend.Conn, error) {
	return func(ctx context.Context, s deploylib.Server) (backend.Conn, error) {
		addr, _ := deploylib.ParseAddress(s.Host)
		c, err := sshbackend.Dial(ctx, sshbackend.Config{Host: addr.Host, Port: addr.Port, User: spec.User,
			KnownHostsFiles: []string{spec.KnownHosts}, IdentityFiles: []string{spec.KeyFile}, SSHConfigFile: "none"})
		if err != nil || !strings.HasSuffix(s.Host, "@"+spec.PauseAddr) {
			return c, err
		}
		var n atomic.Int32
		return &hookConn{Conn: c, hook: func(cmd shell.Command) shell.Command {
			// The release of the lock at the end of a successful run
			// runs on a context no signal cancels: a pause there would
			// only hang the run, so the run is left to end.
			if int(n.Add(1)) == spec.PauseCommand && !strings.Contains(cmd.String(), "capstan-lock-not-ours") {
				return pauseCmd(cmd, spec.PauseDir, spec.ShimDir, spec.PauseStep)
			}
			return cmd
		}}, nil
	}
}

// hookConn passes every command through hook before running it.
type hookConn struct {
	backend.Conn
	hook func(shell.Command) shell.Command
}

func (c *hookConn) Run(ctx context.Context, cmd shell.Command, stdio backend.Stdio) error {
	return c.Conn.Run(ctx, c.hook(cmd), stdio)
}

// pauseCmd runs cmd with the shims of shimDir first on PATH: the step-th
// program the command starts (mv, ln, rm, tar, git, ...) waits, after
// writing what it is to the FIFO dir/event, until a line comes on the
// FIFO dir/go. When the command starts fewer programs, it waits after the
// command, before its exit status is reported.
func pauseCmd(cmd shell.Command, dir, shimDir string, step int) shell.Command {
	q := shell.Quote
	return shell.Raw(fmt.Sprintf(
		`export CAPSTAN_INV_DIR=%s CAPSTAN_INV_AT=%d CAPSTAN_INV_PATH="$PATH"; PATH=%s:"$PATH"; ( %s ); s=$?; `+
			`if /bin/mkdir %s 2>/dev/null; then echo "paused after the command (status $s)" > %s; read _ < %s; fi; exit $s`,
		q(dir), step, q(shimDir), cmd.String(), q(dir+"/fired"), q(dir+"/event"), q(dir+"/go")))
}

// shimScript is installed under the name of every program a pause may
// hold; it counts the programs started in CAPSTAN_INV_DIR.
const shimScript = `#!/bin/sh
tool=${0##*/}
if [ -n "$CAPSTAN_INV_DIR" ]; then
  i=1
  while ! /bin/mkdir "$CAPSTAN_INV_DIR/n$i" 2>/dev/null; do i=$((i+1)); done
  if [ "$i" -eq "$CAPSTAN_INV_AT" ] && /bin/mkdir "$CAPSTAN_INV_DIR/fired" 2>/dev/null; then
    echo "paused before $tool $*" > "$CAPSTAN_INV_DIR/event"
    read _ < "$CAPSTAN_INV_DIR/go"
  fi
fi
PATH=$CAPSTAN_INV_PATH
export PATH
exec "$tool" "$@"
`

// shimTools are the programs the standard commands start.
var shimTools = []string{"mv", "ln", "rm", "mkdir", "rmdir", "tar", "git", "grep", "cat", "readlink", "find", "ls", "date", "tail", "touch", "gzip"}
