package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
	"github.com/capstan-deploy/capstan/deploylib/lab"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// The signal scenarios run the deploy in a child process (this test binary
// in helper mode), so that a real signal reaches it and its exit status is
// seen, as with mage: the child exits with ExitStatus() of the error when
// the error has that method itself, else 1, which is what mage does.

const helperEnv = "CAPSTAN_FAULT_HELPER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(helperEnv); spec != "" {
		os.Exit(helperMain(spec))
	}
	os.Exit(m.Run())
}

// helperSpec is what the child needs to deploy to the parent's lab.
type helperSpec struct {
	Scenario string // updating, publishing, finishing, killed
	Stage    deploylib.Stage
	RepoURL  string
	DeployTo string
	At       time.Time
	Release  string
	Ready    string // a directory the child marks its progress in
	Log      string
	// SSH of the lab, for the publishing scenario's own dialer.
	User, KnownHosts, ClientKey string
	SlowPort                    int // the host whose switch is held back
}

func helperMain(raw string) int {
	var spec helperSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	deploylib.Configure(deploylib.Config{
		Application: "app", RepoURL: spec.RepoURL, DeployTo: spec.DeployTo, KeepReleases: 3,
		LinkedFiles: []string{"config/secrets.yml"}, LinkedDirs: []string{"log"},
	})
	mark := func(name string) string { return shell.Quote(filepath.Join(spec.Ready, name)) }
	// sleepOnAll is a hook that runs a long command on every host, after
	// marking that it started there.
	sleepOnAll := func(ctx context.Context) error {
		return deploylib.On(ctx, deploylib.All(), func(ctx context.Context, h *deploylib.Host) error {
			return h.Execute(ctx, "sh", "-c", "touch "+mark(strconv.Itoa(h.Address.Port))+" && sleep 60")
		})
	}
	opts := []deploylib.Option{deploylib.WithStage(spec.Stage), deploylib.WithColor(false), deploylib.WithLogFile(spec.Log),
		deploylib.WithClock(func() time.Time { return spec.At })}
	switch spec.Scenario {
	case "updating":
		deploylib.Before(deploylib.SymlinkShared, sleepOnAll)
	case "finishing":
		deploylib.Before(deploylib.Cleanup, sleepOnAll)
	case "killed":
		deploylib.Before(deploylib.SymlinkShared, func(context.Context) error {
			os.WriteFile(filepath.Join(spec.Ready, "killed"), nil, 0o644)
			time.Sleep(time.Minute)
			return nil
		})
	case "publishing":
		// The switch of one host is held back by a long remote command, so
		// that the signal comes while the others have switched.
		opts = append(opts, deploylib.WithDialer(func(ctx context.Context, s deploylib.Server) (backend.Conn, error) {
			addr, _ := deploylib.ParseAddress(s.Host)
			c, err := sshbackend.Dial(ctx, sshbackend.Config{Host: addr.Host, Port: addr.Port, User: spec.User,
				KnownHostsFiles: []string{spec.KnownHosts}, IdentityFiles: []string{spec.ClientKey}, SSHConfigFile: "none"})
			if err != nil {
				return nil, err
			}
			if addr.Port != spec.SlowPort {
				return c, nil
			}
			return &faultConn{Conn: c, hook: func(ctx context.Context, _ *lab.Host, cmd shell.Command, run func(shell.Command) error) error {
				if switchTo(cmd, spec.DeployTo, spec.Release) {
					cmd = shell.Raw("touch " + mark("switch") + " && sleep 60 && ( " + cmd.String() + " )")
				}
				return run(cmd)
			}}, nil
		}))
	}
	err := deploylib.Start(context.Background(), deploylib.Deploy, opts...)
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "Error:", err)
	if es, ok := err.(interface{ ExitStatus() int }); ok {
		return es.ExitStatus()
	}
	return 1
}

// child is a deploy running in a child process.
type child struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

// spawn starts a deploy of the next release in a child process for
// scenario.
func (f *fleet) spawn(scenario string, ready string, at time.Time, release string) *child {
	f.t.Helper()
	spec := helperSpec{Scenario: scenario, Stage: f.st, RepoURL: f.l.Repo, DeployTo: f.deployTo, At: at, Release: release,
		Ready: ready, Log: f.logFile, User: f.l.User, KnownHosts: f.l.KnownHosts, ClientKey: f.l.ClientKey, SlowPort: f.l.Hosts[1].Port}
	raw, _ := json.Marshal(spec)
	c := &child{cmd: exec.Command(os.Args[0])}
	c.cmd.Env = append(os.Environ(), helperEnv+"="+string(raw), "USER=alice", "CI=")
	c.cmd.Stdout = &c.out
	c.cmd.Stderr = &c.out
	if err := c.cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	})
	return c
}

// wait waits for the child to end and returns its exit status.
func (c *child) wait(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(60 * time.Second):
		c.cmd.Process.Kill()
		t.Fatalf("the deploy did not end within 60s of the signal:\n%s", c.out.String())
		return -1
	}
}

// waitFor polls cond for up to 60 s.
func waitFor(t *testing.T, what string, c *child, cond func() bool) {
	t.Helper()
	for range 1200 {
		if cond() {
			return
		}
		if c.cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("never saw %s; the child's output:\n%s", what, c.out.String())
}

func readyDir(t *testing.T, f *fleet) string {
	d, err := os.MkdirTemp(f.l.Dir, "ready-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o777)
	return d
}

func allMarked(dir string, hosts []*lab.Host) func() bool {
	return func() bool {
		for _, h := range hosts {
			if _, err := os.Stat(filepath.Join(dir, strconv.Itoa(h.Port))); err != nil {
				return false
			}
		}
		return true
	}
}

// Ctrl-C (and SIGTERM) while the release is being built, while current is
// switched, and while finishing: the commands in flight are stopped on the
// hosts, every host ends on one complete release (the previous one, or the
// new one when it was published everywhere), the half-built release is
// removed, the lock released, and the exit status is 130 or 143.
func TestInterrupts(t *testing.T) {
	f := newFleet(t, 3)
	// Each scenario starts where the previous one left the hosts: on one
	// complete release, checked.
	prev := f.deploy()
	for _, tc := range []struct {
		phase string
		sig   syscall.Signal
	}{
		{"updating", syscall.SIGINT},
		{"updating", syscall.SIGTERM},
		{"publishing", syscall.SIGINT},
		{"publishing", syscall.SIGTERM},
		{"finishing", syscall.SIGINT},
	} {
		t.Run(tc.phase+"-"+signalName(tc.sig), func(t *testing.T) {
			f.t = t
			at, rel := f.next()
			ready := readyDir(t, f)
			c := f.spawn(tc.phase, ready, at, rel)
			switch tc.phase {
			case "publishing":
				waitFor(t, "host2's switch held back and the others switched", c, func() bool {
					if _, err := os.Stat(filepath.Join(ready, "switch")); err != nil {
						return false
					}
					for _, h := range []*lab.Host{f.l.Hosts[0], f.l.Hosts[2]} {
						if f.view(h).current != f.deployTo+"/releases/"+rel {
							return false
						}
					}
					return true
				})
			default:
				waitFor(t, "the long command running on every host", c, allMarked(ready, f.l.Hosts))
			}
			c.cmd.Process.Signal(tc.sig)
			status := c.wait(t)
			if want := 128 + int(tc.sig); status != want {
				t.Errorf("exit status %d, want %d\n%s", status, want, c.out.String())
			}
			if tc.phase == "finishing" {
				f.check(expect{release: rel})
				prev = rel
			} else {
				f.check(expect{release: prev, gone: []string{rel}})
			}
			if tc.phase == "publishing" && !strings.Contains(c.out.String(), "switched back to "+f.deployTo+"/releases/"+prev) {
				t.Errorf("the report does not say the hosts were switched back:\n%s", c.out.String())
			}
			if t.Failed() {
				t.Logf("child output:\n%s", c.out.String())
			}
		})
	}
}

// The deploying process killed with SIGKILL while it holds the lock: the
// next deploy is refused, naming the dead run; deploy:unlock shows whose
// lock it was and clears it; then a deploy succeeds and its cleanup removes
// the dead run's half-built release.
func TestKilledWhileHoldingTheLock(t *testing.T) {
	f := newFleet(t, 2)
	at, dead := f.next()
	ready := readyDir(t, f)
	c := f.spawn("killed", ready, at, dead)
	waitFor(t, "the child holding the lock", c, func() bool {
		_, err := os.Stat(filepath.Join(ready, "killed"))
		return err == nil
	})
	c.cmd.Process.Kill()
	c.wait(t)
	pid := strconv.Itoa(c.cmd.Process.Pid)
	for _, h := range f.l.Hosts {
		if v := f.view(h); !v.locked || !strings.Contains(v.lock, "pid="+pid+"\n") {
			t.Fatalf("%s: %s, want the killed run's lock (pid %s): %q", h.Name, describe(v), pid, v.lock)
		}
	}
	at, _ = f.next()
	_, err := f.run(deploylib.Deploy, at)
	var le *deploylib.LockedError
	if !errors.As(err, &le) || le.Holder.PID != pid || !strings.Contains(err.Error(), "pid "+pid) {
		t.Fatalf("deploy while the dead run's lock is left: %v", err)
	}
	f.check(expect{release: "", lockedOn: map[string]bool{"host1": true, "host2": true}})
	// The killed run's heartbeat is fresh: a gone process never overrides
	// it, so deploy:unlock refuses without FORCE and says why.
	out, err := f.run(deploylib.Unlock, at)
	if err == nil || !strings.Contains(err.Error(), "process "+pid+" on this machine, which took it, is gone") ||
		!strings.Contains(err.Error(), "FORCE=1") {
		t.Fatalf("deploy:unlock beside a fresh heartbeat: %v, want a refusal naming the gone process and FORCE=1\n%s", err, out)
	}
	f.check(expect{release: "", lockedOn: map[string]bool{"host1": true, "host2": true}})
	t.Setenv("FORCE", "1")
	out, err = f.run(deploylib.Unlock, at)
	if err != nil {
		t.Fatalf("FORCE=1 deploy:unlock: %v\n%s", err, out)
	}
	os.Unsetenv("FORCE")
	if !strings.Contains(out, "removed the deploy lock held by alice@") || !strings.Contains(out, "pid "+pid) {
		t.Errorf("deploy:unlock does not show whose lock it was:\n%s", out)
	}
	rel := f.deploy()
	f.check(expect{release: rel, gone: []string{dead}})
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}
