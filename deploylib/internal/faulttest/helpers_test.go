package faulttest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
	"github.com/capstan-deploy/capstan/deploylib/lab"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// fleet is a lab of hosts set up for deploys, with what the scenarios need
// to run and check them.
type fleet struct {
	t        *testing.T
	d        *deploylib.Deployment // the configuration and hooks of the fleet's runs
	l        *lab.Lab
	st       deploylib.Stage
	deployTo string // the same on every host: /srv/app
	canary   string // a world-writable directory no file may appear in
	logFile  string // the local log file of the runs
	clock    time.Time
	uid, gid int
}

// newFleet starts a lab of n hosts and configures deploys to it. It needs
// root, so that every host has its own /srv; under CI=true it fails
// instead of skipping.
func newFleet(t *testing.T, n int, edits ...func(*deploylib.Config)) *fleet {
	t.Helper()
	lab.RequireRoot(t, "the fault suite (private mount namespaces, tmpfs)")
	l := lab.Start(t, lab.Options{Hosts: n})
	l.RequireSharedDeployTo(t)
	u, err := user.Lookup(l.User)
	if err != nil {
		t.Fatal(err)
	}
	f := &fleet{t: t, d: deploylib.NewDeployment(), l: l, deployTo: l.Hosts[0].DeployTo, clock: time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)}
	f.uid, _ = strconv.Atoi(u.Uid)
	f.gid, _ = strconv.Atoi(u.Gid)
	f.canary = filepath.Join(l.Dir, "canary")
	if err := os.Mkdir(f.canary, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(f.canary, 0o777)
	f.logFile = filepath.Join(t.TempDir(), "deploy.log")
	f.st = deploylib.Stage{
		Name: "lab",
		SSH: deploylib.SSHOptions{
			KnownHostsFile: l.KnownHosts,
			KnownHostsOnly: true,
			IdentityFiles:  []string{l.ClientKey},
			ConfigFile:     "none",
		},
	}
	for i, h := range l.Hosts {
		f.st.Servers = append(f.st.Servers, deploylib.Server{Host: l.User + "@" + h.Addr, Roles: []string{"app"}, Primary: i == 0})
	}
	f.configure(edits...)
	f.prepare()
	return f
}

// configure sets the configuration of the deploys; edits change it.
func (f *fleet) configure(edits ...func(*deploylib.Config)) {
	cfg := deploylib.Config{
		Application:  "app",
		RepoURL:      f.l.Repo,
		DeployTo:     f.deployTo,
		KeepReleases: 3,
		LinkedFiles:  []string{"config/secrets.yml"},
		LinkedDirs:   []string{"log"},
	}
	for _, e := range edits {
		e(&cfg)
	}
	f.deployTo = cfg.DeployTo
	f.d.Configure(cfg)
	for _, k := range []string{"HOSTS", "ROLES", "ROLLBACK_RELEASE", "DRY_RUN", "CAPSTAN_LOG_FILE"} {
		f.t.Setenv(k, "")
	}
	f.t.Setenv("USER", "alice")
}

// local returns the local path of p (relative to deploy_to) on h: through
// /proc/<sshd>/root, the host's own view of its files (a tmpfs mounted in
// its namespace included), while its sshd runs, else through h.Root.
func (f *fleet) local(h *lab.Host, p string) string {
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/root/srv", h.Pid)); err == nil && h.Pid > 0 {
		return filepath.Join(fmt.Sprintf("/proc/%d/root", h.Pid), f.deployTo, p)
	}
	return filepath.Join(h.Root, strings.TrimPrefix(f.deployTo, "/srv"), p)
}

// prepare empties every host's deploy_to and creates the linked file.
func (f *fleet) prepare() {
	f.t.Helper()
	for _, h := range f.l.Hosts {
		app := f.local(h, "")
		os.RemoveAll(app)
		for _, d := range []string{"", "shared", "shared/config"} {
			p := filepath.Join(app, d)
			if err := os.MkdirAll(p, 0o755); err != nil {
				f.t.Fatal(err)
			}
			os.Chown(p, f.uid, f.gid)
		}
		file := filepath.Join(app, "shared/config/secrets.yml")
		os.WriteFile(file, []byte("secret of "+h.Name+"\n"), 0o600)
		os.Chown(file, f.uid, f.gid)
	}
}

// next returns the time of the next run, 2 s after the previous one, and
// the release name it gets.
func (f *fleet) next() (time.Time, string) {
	f.clock = f.clock.Add(2 * time.Second)
	return f.clock, remote.ReleaseNameAt(f.clock)
}

// run starts task against the fleet at time at and returns the console
// output and the error.
func (f *fleet) run(task *deploylib.Task, at time.Time, opts ...deploylib.Option) (string, error) {
	f.t.Helper()
	var out syncBuffer
	all := append([]deploylib.Option{
		deploylib.WithStage(f.st), deploylib.WithOutput(&out), deploylib.WithColor(false),
		deploylib.WithClock(func() time.Time { return at }), deploylib.WithLogFile(f.logFile),
	}, opts...)
	err := f.d.Start(context.Background(), task, all...)
	return out.String(), err
}

// deploy runs a deploy that must succeed and returns its release.
func (f *fleet) deploy() string {
	f.t.Helper()
	at, rel := f.next()
	if out, err := f.run(deploylib.Deploy, at); err != nil {
		f.t.Fatalf("deploy: %v\n%s", err, out)
	}
	return rel
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var releaseName = regexp.MustCompile(`^[0-9]{14}$`)

// view is what a host's deploy_to holds.
type view struct {
	current    string // where current points, "" if it does not exist
	currentErr error
	releases   []string // 14-digit entries of releases/
	unfinished []string
	lock       string // the lock's details, "" if there is no lock
	locked     bool
}

func (f *fleet) view(h *lab.Host) view {
	var v view
	v.current, v.currentErr = os.Readlink(f.local(h, "current"))
	if os.IsNotExist(v.currentErr) {
		v.currentErr = nil
	}
	ents, _ := os.ReadDir(f.local(h, "releases"))
	for _, e := range ents {
		if releaseName.MatchString(e.Name()) {
			v.releases = append(v.releases, e.Name())
		}
	}
	ents, _ = os.ReadDir(f.local(h, ".capstan/unfinished"))
	for _, e := range ents {
		v.unfinished = append(v.unfinished, e.Name())
	}
	if _, err := os.Lstat(f.local(h, ".capstan/lock")); err == nil {
		v.locked = true
		b, _ := os.ReadFile(f.local(h, ".capstan/lock/details"))
		v.lock = string(b)
	}
	return v
}

// expect says what check requires beyond the invariants.
type expect struct {
	release  string          // the release every host serves; "" means none
	skip     map[string]bool // hosts not checked (killed ones)
	gone     []string        // releases that must not exist on any checked host
	lockedOn map[string]bool // hosts where a lock is expected
}

// check verifies the invariants on every host: current points at a
// complete release (REVISION, no unfinished marker), the same on every
// host (want.release), no lock, no process of the run still running.
func (f *fleet) check(want expect) {
	f.t.Helper()
	for _, h := range f.l.Hosts {
		if want.skip[h.Name] {
			continue
		}
		v := f.view(h)
		switch {
		case v.currentErr != nil:
			f.t.Errorf("%s: current is not a symlink: %v", h.Name, v.currentErr)
		case want.release == "" && v.current != "":
			f.t.Errorf("%s: current -> %s, want no current", h.Name, v.current)
		case want.release != "" && v.current != f.deployTo+"/releases/"+want.release:
			f.t.Errorf("%s: current -> %q, want %s/releases/%s", h.Name, v.current, f.deployTo, want.release)
		}
		if want.release != "" {
			rev, err := os.ReadFile(f.local(h, "releases/"+want.release+"/REVISION"))
			if err != nil || !regexp.MustCompile(`^[0-9a-f]{40}\n$`).Match(rev) {
				f.t.Errorf("%s: release %s is not complete: REVISION %q, %v", h.Name, want.release, rev, err)
			}
			for _, u := range v.unfinished {
				if u == want.release {
					f.t.Errorf("%s: the live release %s is marked unfinished", h.Name, u)
				}
			}
		}
		for _, g := range want.gone {
			if _, err := os.Lstat(f.local(h, "releases/"+g)); err == nil {
				f.t.Errorf("%s: release %s still exists (half-built release not removed)", h.Name, g)
			}
			for _, u := range v.unfinished {
				if u == g {
					f.t.Errorf("%s: the unfinished marker of %s is left", h.Name, g)
				}
			}
		}
		if v.locked && !want.lockedOn[h.Name] {
			f.t.Errorf("%s: a deploy lock is left: %q", h.Name, v.lock)
		}
		if !v.locked && want.lockedOn[h.Name] {
			f.t.Errorf("%s: no deploy lock, want one", h.Name)
		}
	}
	f.noStrays(want.skip)
	f.noCanary()
}

// noStrays fails when a process started through a host's sshd (it carries
// the host's CAPSTAN_LAB_HOST variable) is still running, sshd's own
// processes aside.
func (f *fleet) noStrays(skip map[string]bool) {
	f.t.Helper()
	var left []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		left = left[:0]
		for _, h := range f.l.Hosts {
			if skip[h.Name] {
				continue
			}
			for _, p := range processesCarrying("CAPSTAN_LAB_HOST=" + filepath.Join(f.l.Dir, h.Name)) {
				left = append(left, h.Name+": "+p)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(left) > 0 {
		f.t.Errorf("remote processes still running after the run:\n  %s", strings.Join(left, "\n  "))
	}
}

// processesCarrying lists "pid cmdline" of the processes other than sshd
// whose environment holds kv.
func processesCarrying(kv string) []string {
	want := []byte(kv + "\x00")
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !(bytes.HasPrefix(env, want) || bytes.Contains(env, append([]byte{0}, want...))) {
			continue
		}
		comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
		if strings.TrimSpace(string(comm)) == "sshd" || strings.HasPrefix(string(comm), "sshd-") {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		out = append(out, e.Name()+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	return out
}

// noCanary fails when anything appeared in the canary directory.
func (f *fleet) noCanary() {
	f.t.Helper()
	ents, _ := os.ReadDir(f.canary)
	for _, e := range ents {
		f.t.Errorf("canary file created: %s (a hostile value was run as code)", filepath.Join(f.canary, e.Name()))
	}
}

// hostOf returns the lab host of a server.
func (f *fleet) hostOf(s deploylib.Server) *lab.Host {
	for _, h := range f.l.Hosts {
		if strings.HasSuffix(s.Host, "@"+h.Addr) {
			return h
		}
	}
	f.t.Fatalf("no lab host for %s", s.Host)
	return nil
}

// dialer returns a WithDialer option that dials the lab's hosts with
// keepalives every interval (missing 2 declares a host dead) and wraps
// each connection with wrap, when not nil.
func (f *fleet) dialer(interval time.Duration, wrap func(h *lab.Host, c backend.Conn) backend.Conn) deploylib.Option {
	return deploylib.WithDialer(func(ctx context.Context, s deploylib.Server) (backend.Conn, error) {
		h := f.hostOf(s)
		cfg := f.l.SSHConfig(h)
		cfg.KeepAliveInterval = interval
		cfg.KeepAliveMaxMissed = 2
		c, err := sshbackend.Dial(ctx, cfg)
		if err != nil {
			return nil, err
		}
		if wrap != nil {
			return wrap(h, c), nil
		}
		return c, nil
	})
}

// faultConn passes the commands of a host to its connection through
// hook, which may delay, change or fail them, or act on the lab meanwhile.
type faultConn struct {
	backend.Conn
	host *lab.Host
	hook func(ctx context.Context, h *lab.Host, cmd shell.Command, run func(shell.Command) error) error
}

func (c *faultConn) Run(ctx context.Context, cmd shell.Command, stdio backend.Stdio) error {
	return c.hook(ctx, c.host, cmd, func(cmd shell.Command) error { return c.Conn.Run(ctx, cmd, stdio) })
}

// withFaults wraps every connection in a faultConn calling hook.
func withFaults(hook func(ctx context.Context, h *lab.Host, cmd shell.Command, run func(shell.Command) error) error) func(*lab.Host, backend.Conn) backend.Conn {
	return func(h *lab.Host, c backend.Conn) backend.Conn { return &faultConn{Conn: c, host: h, hook: hook} }
}

func describe(v view) string {
	return fmt.Sprintf("current=%s releases=%v unfinished=%v locked=%v", v.current, v.releases, v.unfinished, v.locked)
}
