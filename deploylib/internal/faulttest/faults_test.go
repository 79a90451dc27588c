package faulttest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/lab"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// switchTo reports whether cmd is the switch of current to release.
func switchTo(cmd shell.Command, deployTo, release string) bool {
	s := cmd.String()
	return strings.Contains(s, "/.capstan/switch-") && strings.Contains(s, "ln -s "+shell.Quote(deployTo+"/releases/"+release)+" ")
}

// One host's sshd is killed while the switch is under way, after another
// host switched: the switched hosts go back to the previous release, the
// killed host is reported as unknown, and the hosts that can be reached
// agree and hold no lock.
func TestKillHostAfterAnotherSwitched(t *testing.T) {
	f := newFleet(t, 3)
	prev := f.deploy()
	at, rel := f.next()
	h1, h2 := f.l.Hosts[0], f.l.Hosts[1]
	h1Switched := make(chan struct{})
	var once sync.Once
	out, err := f.run(deploylib.Deploy, at, f.dialer(500*time.Millisecond, withFaults(
		func(ctx context.Context, h *lab.Host, cmd shell.Command, run func(shell.Command) error) error {
			if !switchTo(cmd, f.deployTo, rel) {
				return run(cmd)
			}
			switch h {
			case h1:
				err := run(cmd)
				once.Do(func() { close(h1Switched) })
				return err
			case h2:
				select {
				case <-h1Switched:
				case <-time.After(20 * time.Second):
					t.Error("host1 never switched")
				}
				h2.Stop()
				return run(cmd)
			}
			return run(cmd)
		})))
	if err == nil {
		t.Fatalf("deploy succeeded with host2 killed during the switch\n%s", out)
	}
	if !strings.Contains(err.Error(), h2.Addr) {
		t.Errorf("the error does not name host2 (%s):\n%v", h2.Addr, err)
	}
	for _, want := range []string{h1.Addr + ": switched back to " + f.deployTo + "/releases/" + prev, h2.Addr + ": UNKNOWN"} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	f.check(expect{release: prev, gone: []string{rel}, skip: map[string]bool{h2.Name: true}})
	// host2 died before its switch: it still serves the previous release,
	// and keeps the dead run's lock until deploy:unlock.
	if v := f.view(h2); v.current != f.deployTo+"/releases/"+prev || !v.locked {
		t.Errorf("host2: %s; want current on %s and the run's lock left", describe(v), prev)
	}
}

// A host unreachable from the start: the deploy fails naming it, and
// nothing is created on any host.
func TestUnreachableHostAtStart(t *testing.T) {
	f := newFleet(t, 3)
	h3 := f.l.Hosts[2]
	h3.Stop()
	at, _ := f.next()
	out, err := f.run(deploylib.Deploy, at)
	if err == nil || !strings.Contains(err.Error(), h3.Addr) {
		t.Fatalf("deploy with host3 down: %v\n%s", err, out)
	}
	for _, h := range f.l.Hosts[:2] {
		ents, _ := os.ReadDir(f.local(h, ""))
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if strings.Join(names, " ") != "shared" {
			t.Errorf("%s: deploy_to holds %v, want only the prepared shared/", h.Name, names)
		}
	}
	f.noStrays(map[string]bool{h3.Name: true})
}

// A hook fails on one host during deploy:updated: no host is switched,
// the new release is removed everywhere, deploy:failed hooks run once, the
// lock is released, and the error names the task, host, command, exit
// status and stderr.
func TestHookFailsOnOneHostDuringUpdated(t *testing.T) {
	f := newFleet(t, 3)
	prev := f.deploy()
	h2 := f.l.Hosts[1]
	deploylib.AfterIn(f.d, deploylib.Updated, func(ctx context.Context) error {
		return deploylib.On(ctx, deploylib.All(), func(ctx context.Context, h *deploylib.Host) error {
			if strings.HasSuffix(h.Server.Host, h2.Addr) {
				return h.Within(h.ReleasePath()).Execute(ctx, "sh", "-c", "echo migrating; echo 'migration exploded' >&2; exit 3")
			}
			return h.Within(h.ReleasePath()).Execute(ctx, "true")
		})
	})
	var failed atomic.Int32
	deploylib.AfterIn(f.d, deploylib.Failed, func(context.Context) error { failed.Add(1); return nil })
	at, rel := f.next()
	out, err := f.run(deploylib.Deploy, at)
	if err == nil {
		t.Fatalf("deploy succeeded\n%s", out)
	}
	var te *deploylib.TaskError
	var ce *deploylib.CommandError
	if !errors.As(err, &te) || !errors.As(err, &ce) {
		t.Fatalf("error %v is not a task error with a command error", err)
	}
	for _, want := range []string{te.Task, h2.Addr, "sh -c", "exit status 3", "migration exploded"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q:\n%v", want, err)
		}
	}
	if n := failed.Load(); n != 1 {
		t.Errorf("deploy:failed hooks ran %d times, want once", n)
	}
	f.check(expect{release: prev, gone: []string{rel}})
}

// Two deploys started at the same instant, 20 times: exactly one takes the
// lock; the other fails at once naming the holder, who is alive, and is
// not told to unlock; it leaves nothing. The winner waits, holding the
// lock, until the loser has returned, so the outcome does not depend on
// how fast either runs.
func TestConcurrentDeploys(t *testing.T) {
	f := newFleet(t, 2, func(c *deploylib.Config) { c.LinkedFiles, c.LinkedDirs = nil, nil })
	var loserDone chan struct{}
	deploylib.AfterIn(f.d, deploylib.Lock, func(ctx context.Context) error {
		select {
		case <-loserDone:
			return nil
		case <-time.After(2 * time.Minute):
			return errors.New("the other deploy never returned: both took the lock?")
		}
	})
	for i := range 20 {
		at, rel := f.next()
		loserDone = make(chan struct{})
		start := make(chan struct{})
		type result struct {
			out string
			err error
		}
		results := make(chan result, 2)
		for range 2 {
			go func() {
				<-start
				out, err := f.run(deploylib.Deploy, at)
				results <- result{out, err}
			}()
		}
		close(start)
		first := <-results // the loser: the winner waits for it in its hook
		close(loserDone)
		second := <-results
		var le *deploylib.LockedError
		if !errors.As(first.err, &le) {
			t.Fatalf("round %d: the first run to return was not refused by the lock: %v\n%s", i, first.err, first.out)
		}
		if msg := first.err.Error(); !strings.Contains(msg, "held by alice@") || !strings.Contains(msg, "since ") ||
			!strings.Contains(msg, "wait for it to finish") || strings.Contains(msg, "deploy:unlock") {
			t.Errorf("round %d: the refusal must name the live holder and not advise unlocking: %v", i, msg)
		}
		if second.err != nil {
			t.Fatalf("round %d: the run holding the lock failed: %v\n%s", i, second.err, second.out)
		}
		f.check(expect{release: rel})
	}
}

// Rollback with no previous release refuses and changes nothing.
func TestRollbackWithNoPreviousRelease(t *testing.T) {
	f := newFleet(t, 2)
	rel := f.deploy()
	at, _ := f.next()
	out, err := f.run(deploylib.Rollback, at)
	if !errors.Is(err, deploylib.ErrNoPreviousRelease) {
		t.Fatalf("rollback error = %v, want ErrNoPreviousRelease\n%s", err, out)
	}
	f.check(expect{release: rel})
}

// revisions.log missing on host1, cut in the middle of a line on host2, a
// directory on host3: the deploy succeeds everywhere (a warning for the
// directory), a cut line is not glued to the new one, and rollback works.
func TestRevisionsLogMissingTruncatedOrDirectory(t *testing.T) {
	f := newFleet(t, 3)
	rel1 := f.deploy()
	h1, h2, h3 := f.l.Hosts[0], f.l.Hosts[1], f.l.Hosts[2]
	os.Remove(f.local(h1, "revisions.log"))
	b, _ := os.ReadFile(f.local(h2, "revisions.log"))
	os.WriteFile(f.local(h2, "revisions.log"), b[:len(b)/2], 0o644)
	os.Remove(f.local(h3, "revisions.log"))
	os.Mkdir(f.local(h3, "revisions.log"), 0o755)
	at, rel2 := f.next()
	out, err := f.run(deploylib.Deploy, at)
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	if !strings.Contains(out, "revisions.log not updated") {
		t.Errorf("no warning about host3's revisions.log:\n%s", out)
	}
	line := "deployed as release " + rel2 + " by alice\n"
	if got, _ := os.ReadFile(f.local(h1, "revisions.log")); !strings.HasPrefix(string(got), "Branch main (at ") || !strings.HasSuffix(string(got), line) || strings.Count(string(got), "\n") != 1 {
		t.Errorf("host1: revisions.log = %q", got)
	}
	got, _ := os.ReadFile(f.local(h2, "revisions.log"))
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	if len(lines) != 2 || lines[0] != string(b[:len(b)/2]) || !strings.HasPrefix(lines[1], "Branch main (at ") || !strings.HasSuffix(lines[1]+"\n", line) {
		t.Errorf("host2: revisions.log = %q; want the cut line, then the new line whole", got)
	}
	f.check(expect{release: rel2})
	at, _ = f.next()
	if out, err := f.run(deploylib.Rollback, at); err != nil {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	f.check(expect{release: rel1})
}

// A current that is a real directory on one host: the deploy stops before
// anything changes, naming the host and the remedy; the directory and its
// contents are left as they are.
func TestCurrentIsRealDirectory(t *testing.T) {
	f := newFleet(t, 3)
	prev := f.deploy()
	h2 := f.l.Hosts[1]
	cur := f.local(h2, "current")
	os.Remove(cur)
	os.Mkdir(cur, 0o755)
	os.WriteFile(filepath.Join(cur, "precious"), []byte("keep me\n"), 0o644)
	at, rel := f.next()
	out, err := f.run(deploylib.Deploy, at)
	if err == nil || !strings.Contains(err.Error(), h2.Addr) || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("deploy with current a directory on host2: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(cur, "precious")); err != nil || string(b) != "keep me\n" {
		t.Errorf("host2: current/precious = %q, %v", b, err)
	}
	if ents, _ := os.ReadDir(cur); len(ents) != 1 {
		t.Errorf("host2: something was created inside current/: %v", ents)
	}
	f.check(expect{release: prev, gone: []string{rel}, skip: map[string]bool{h2.Name: true}})
	if v := f.view(h2); v.locked || len(v.releases) != 1 {
		t.Errorf("host2: %s", describe(v))
	}
}

// Junk in releases/: names that are not releases, a symlink to / and a
// release-like symlink to a directory outside deploy_to. Cleanup and
// rollback never follow, count or remove the junk; the outside directory
// survives.
func TestJunkInReleases(t *testing.T) {
	f := newFleet(t, 2, func(c *deploylib.Config) { c.KeepReleases = 2 })
	// An old finished release, as an earlier deploy leaves it.
	first := "20261125000000"
	for _, h := range f.l.Hosts {
		d := f.local(h, "releases/"+first)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "REVISION"), []byte(f.l.Commits[0]+"\n"), 0o644)
		os.Symlink(f.deployTo+"/releases/"+first, f.local(h, "current"))
		exec.Command("chown", "-R", strconv.Itoa(f.uid)+":"+strconv.Itoa(f.gid), f.local(h, "")).Run()
	}
	outside := filepath.Join(f.l.Dir, "outside")
	os.Mkdir(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "data"), []byte("outside\n"), 0o644)
	junk := []string{"new", "a b", "evil", "plain", "20200101000000"}
	for _, h := range f.l.Hosts {
		rel := f.local(h, "releases")
		os.Mkdir(filepath.Join(rel, "new"), 0o755)
		os.WriteFile(filepath.Join(rel, "new", "keep"), nil, 0o644)
		os.Mkdir(filepath.Join(rel, "a b"), 0o755)
		os.Symlink("/", filepath.Join(rel, "evil"))
		os.WriteFile(filepath.Join(rel, "plain"), []byte("x"), 0o644)
		os.Symlink(outside, filepath.Join(rel, "20200101000000"))
	}
	second := f.deploy()
	third := f.deploy()
	f.check(expect{release: third})
	for _, h := range f.l.Hosts {
		for _, j := range junk[:4] {
			if _, err := os.Lstat(filepath.Join(f.local(h, "releases"), j)); err != nil {
				t.Errorf("%s: releases/%s was removed: %v", h.Name, j, err)
			}
		}
		if _, err := os.Stat(filepath.Join(f.local(h, "releases"), first)); !os.IsNotExist(err) {
			t.Errorf("%s: cleanup kept %s beyond KeepReleases=2", h.Name, first)
		}
	}
	if b, err := os.ReadFile(filepath.Join(outside, "data")); err != nil || string(b) != "outside\n" {
		t.Errorf("the directory outside deploy_to was touched: %q, %v", b, err)
	}
	at, _ := f.next()
	if out, err := f.run(deploylib.Rollback, at); err != nil {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	f.check(expect{release: second})
}

// A deploy_to with spaces, quotes and shell syntax in its name deploys and
// rolls back like any other; nothing in it is run.
func TestDeployToWithSpacesAndQuotes(t *testing.T) {
	f := newFleet(t, 2)
	weird := "/srv/my app's \"dir\" $(touch${IFS}" + f.canary + "/pwned-dt) `touch " + f.canary + "/pwned-dt2` ;x"
	f.configure(func(c *deploylib.Config) { c.DeployTo = weird })
	f.prepare()
	first := f.deploy()
	second := f.deploy()
	f.check(expect{release: second})
	at, _ := f.next()
	if out, err := f.run(deploylib.Rollback, at); err != nil {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	f.check(expect{release: first})
}

// Hostile branch and tag names that git allows deploy correctly, those
// that git would read as options and hostile repository URLs are refused,
// and a hostile linked file name and environment value are only data. No
// canary file appears on any host or locally.
func TestHostileBranchesAndRepositoryURLs(t *testing.T) {
	f := newFleet(t, 2)
	sub := func(s string) string { return strings.ReplaceAll(s, "CANARY", f.canary) }
	f.configure(func(cfg *deploylib.Config) {
		cfg.LinkedFiles = append(cfg.LinkedFiles, sub("config/a;touch${IFS}CANARY/pwned8 $(touch CANARY/pwned9).yml"))
		cfg.Env = map[string]string{"HOSTILE": sub("$(touch CANARY/pwned10)`touch CANARY/pwned11`")}
	})
	for _, h := range f.l.Hosts {
		p := f.local(h, "shared/"+sub("config/a;touch${IFS}CANARY/pwned8 $(touch CANARY/pwned9).yml"))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("hostile name\n"), 0o644)
		os.Chown(p, f.uid, f.gid)
	}
	head := f.l.Commits[len(f.l.Commits)-1]
	good := []string{
		sub("x;touch${IFS}CANARY/pwned1;$(touch${IFS}CANARY/pwned2)"),
		sub("a`touch${IFS}CANARY/pwned3`b|c&d>e<f'g\"h"),
	}
	bad := []string{sub("--output=CANARY/pwned4"), "-h"}
	for _, b := range append(append([]string(nil), good...), bad...) {
		if out, err := exec.Command("git", "-C", f.l.Repo, "update-ref", "refs/heads/"+b, head).CombinedOutput(); err != nil {
			t.Fatalf("creating branch %q: %v\n%s", b, err, out)
		}
	}
	for _, b := range good {
		st := f.st
		st.Branch = b
		at, rel := f.next()
		var out string
		var err error
		func() {
			old := f.st
			f.st = st
			defer func() { f.st = old }()
			out, err = f.run(deploylib.Deploy, at)
		}()
		if err != nil {
			t.Fatalf("deploy of branch %q: %v\n%s", b, err, out)
		}
		f.check(expect{release: rel})
		for _, h := range f.l.Hosts {
			log, _ := os.ReadFile(f.local(h, "revisions.log"))
			if want := "Branch " + b + " (at " + head + ") deployed as release " + rel + " by alice\n"; !strings.HasSuffix(string(log), want) {
				t.Errorf("%s: revisions.log does not end with %q:\n%s", h.Name, want, log)
			}
			name := sub("config/a;touch${IFS}CANARY/pwned8 $(touch CANARY/pwned9).yml")
			if got, err := os.Readlink(f.local(h, "releases/"+rel+"/"+name)); got != f.deployTo+"/shared/"+name {
				t.Errorf("%s: the hostile linked file links to %q (%v)", h.Name, got, err)
			}
		}
	}
	for _, b := range bad {
		st := f.st
		st.Branch = b
		at, _ := f.next()
		old := f.st
		f.st = st
		_, err := f.run(deploylib.Deploy, at)
		f.st = old
		if err == nil || !strings.Contains(err.Error(), "would be read as an option") {
			t.Errorf("branch %q: %v, want a refusal", b, err)
		}
	}
	for _, u := range []string{sub("--upload-pack=touch CANARY/pwned5"), sub("ext::sh -c touch% CANARY/pwned6"), "fd::17", sub("/nonexistent/$(touch${IFS}CANARY/pwned7)")} {
		st := f.st
		st.RepoURL = u
		at, _ := f.next()
		old := f.st
		f.st = st
		out, err := f.run(deploylib.Deploy, at)
		f.st = old
		if err == nil {
			t.Errorf("repository %q: deploy succeeded\n%s", u, out)
		}
	}
	f.noCanary()
	f.noStrays(nil)
}

// A secret canary handed to remote commands with WithSecretEnv reaches
// them, and appears nowhere else: not in the console, the returned error,
// the log file, revisions.log, nor on any command line (ps).
func TestSecretCanaryAppearsNowhere(t *testing.T) {
	f := newFleet(t, 2)
	var b [12]byte
	rand.Read(b[:])
	canary := "capstan-canary-" + hex.EncodeToString(b[:])
	secret := deploylib.NewSecret(canary)
	sum := sha256.Sum256([]byte(canary))
	// Snapshot every process's command line every 10 ms.
	var leaks []string
	var mu sync.Mutex
	stop := make(chan struct{})
	var snap sync.WaitGroup
	snap.Add(1)
	go func() {
		defer snap.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			ents, _ := os.ReadDir("/proc")
			for _, e := range ents {
				if _, err := strconv.Atoi(e.Name()); err != nil {
					continue
				}
				if c, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline"); strings.Contains(string(c), canary) {
					mu.Lock()
					leaks = append(leaks, strings.ReplaceAll(string(c), "\x00", " "))
					mu.Unlock()
				}
			}
		}
	}()
	var arrived atomic.Int32
	deploylib.AfterIn(f.d, deploylib.Updated, func(ctx context.Context) error {
		return deploylib.On(ctx, deploylib.All(), func(ctx context.Context, h *deploylib.Host) error {
			hs := h.WithSecretEnv("CANARY_TOKEN", secret)
			out, err := hs.Capture(ctx, "sh", "-c", `printf %s "$CANARY_TOKEN" | sha256sum`)
			if err != nil {
				return err
			}
			if strings.HasPrefix(out, hex.EncodeToString(sum[:])) {
				arrived.Add(1)
			}
			return hs.Execute(ctx, "sh", "-c", `echo "token is $CANARY_TOKEN"; echo "stderr token $CANARY_TOKEN" >&2; sleep 0.3`)
		})
	})
	deploylib.AfterIn(f.d, deploylib.Published, func(ctx context.Context) error {
		return deploylib.On(ctx, deploylib.All(), func(ctx context.Context, h *deploylib.Host) error {
			return h.WithSecretEnv("CANARY_TOKEN", secret).Execute(ctx, "sh", "-c", `echo "failing with $CANARY_TOKEN" >&2; exit 1`)
		})
	})
	at, _ := f.next()
	out, err := f.run(deploylib.Deploy, at)
	close(stop)
	snap.Wait()
	if err == nil {
		t.Fatal("the deploy did not fail")
	}
	if n := arrived.Load(); n != 2 {
		t.Errorf("the secret reached %d hosts intact, want 2", n)
	}
	if !strings.Contains(out, "token is [REDACTED]") {
		t.Errorf("the console does not show the redacted output:\n%s", out)
	}
	places := map[string]string{"console": out, "error": err.Error(), "fmt of the secret": fmt.Sprintf("%v %s %+v %#v %q", secret, secret, secret, secret, secret)}
	log, lerr := os.ReadFile(f.logFile)
	if lerr != nil {
		t.Errorf("no log file: %v", lerr)
	}
	places["log file"] = string(log)
	if fi, err := os.Stat(f.logFile); err == nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("the log file has mode %v, want 0600", fi.Mode().Perm())
	}
	for _, h := range f.l.Hosts {
		rl, _ := os.ReadFile(f.local(h, "revisions.log"))
		places[h.Name+" revisions.log"] = string(rl)
	}
	for where, s := range places {
		if strings.Contains(s, canary) {
			t.Errorf("the secret appears in the %s", where)
		}
	}
	if len(leaks) > 0 {
		t.Errorf("the secret appeared on %d command lines, e.g. %q", len(leaks), leaks[0])
	}
}

// A host whose deploy_to is a small tmpfs runs out of space while the
// release is unpacked: the deploy fails naming the host and the error, no
// host switches, the partial release is removed, the lock released and
// revisions.log left whole.
func TestDiskFullDuringArchive(t *testing.T) {
	f := newFleet(t, 2, func(c *deploylib.Config) { c.LinkedDirs = nil })
	h2 := f.l.Hosts[1]
	mount := exec.Command("nsenter", "-t", strconv.Itoa(h2.Pid), "-m", "sh", "-c",
		fmt.Sprintf("mount -t tmpfs -o size=3m capstan-full %s && chown %d:%d %s", shell.Quote(f.deployTo), f.uid, f.gid, shell.Quote(f.deployTo)))
	if out, err := mount.CombinedOutput(); err != nil {
		t.Fatalf("mounting a tmpfs on host2: %v\n%s", err, out)
	}
	f.prepare() // inside the tmpfs
	prev := f.deploy()
	logBefore, _ := os.ReadFile(f.local(h2, "revisions.log"))
	// A repository with 2 MB that do not compress: its mirror fits, its
	// release does not.
	big := filepath.Join(f.l.Dir, "big")
	gitRun(t, "", "init", "-q", "-b", "main", big)
	data := make([]byte, 2<<20)
	rand.Read(data)
	os.WriteFile(filepath.Join(big, "blob.bin"), data, 0o644)
	gitRun(t, big, "add", "-A")
	gitRun(t, big, "commit", "-q", "-m", "big")
	exec.Command("chmod", "-R", "a+rX", big).Run()
	f.configure(func(c *deploylib.Config) { c.LinkedDirs = nil; c.RepoURL = big })
	at, rel := f.next()
	out, err := f.run(deploylib.Deploy, at)
	if err == nil {
		t.Fatalf("deploy succeeded on a full disk\n%s", out)
	}
	// GNU tar says "No space left on device", or "Wrote only N of M bytes".
	if msg := err.Error(); !strings.Contains(msg, h2.Addr) || !strings.Contains(msg, "git:create_release") ||
		!(strings.Contains(msg, "No space left on device") || strings.Contains(msg, "Wrote only")) {
		t.Errorf("the error does not name the task, host2 and the full disk:\n%v", err)
	}
	if strings.Contains(err.Error(), f.l.Hosts[0].Addr) {
		t.Errorf("the error blames host1:\n%v", err)
	}
	f.check(expect{release: prev, gone: []string{rel}})
	if got, _ := os.ReadFile(f.local(h2, "revisions.log")); string(got) != string(logBefore) {
		t.Errorf("host2: revisions.log changed: %q, was %q", got, logBefore)
	}
}

func gitRun(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// Config.CommandTimeout stops a remote command that runs too long, on the
// host, and says so.
func TestCommandTimeoutStopsTheRemoteProcess(t *testing.T) {
	f := newFleet(t, 2, func(c *deploylib.Config) { c.CommandTimeout = 2 * time.Second })
	slow := f.d.NewTask("lab:slow", "", func(ctx context.Context) error {
		return deploylib.On(ctx, deploylib.All(), func(ctx context.Context, h *deploylib.Host) error {
			return h.Execute(ctx, "sh", "-c", "sleep 30; echo survived")
		})
	})
	at, _ := f.next()
	start := time.Now()
	out, err := f.run(slow, at)
	took := time.Since(start)
	var te *deploylib.TimeoutError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "timed out after 2s") {
		t.Fatalf("error = %v, want a TimeoutError\n%s", err, out)
	}
	if took > 15*time.Second {
		t.Errorf("the run took %v", took)
	}
	f.noStrays(nil)
}

// A host that stops answering in the middle of a command is noticed
// through keepalives and reported, not waited for.
func TestHungHostNoticedByKeepalives(t *testing.T) {
	f := newFleet(t, 2)
	h2 := f.l.Hosts[1]
	ready := filepath.Join(f.l.Dir, "ready")
	os.Mkdir(ready, 0o777)
	os.Chmod(ready, 0o777)
	slow := f.d.NewTask("lab:hang", "", func(ctx context.Context) error {
		return deploylib.On(ctx, deploylib.All(), func(ctx context.Context, h *deploylib.Host) error {
			if !strings.HasSuffix(h.Server.Host, h2.Addr) {
				return h.Execute(ctx, "true")
			}
			return h.Execute(ctx, "sh", "-c", "touch "+shell.Quote(ready+"/go")+"; sleep 30")
		})
	})
	go func() {
		for range 400 {
			if _, err := os.Stat(filepath.Join(ready, "go")); err == nil {
				h2.Pause()
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
	}()
	defer h2.Resume()
	at, _ := f.next()
	start := time.Now()
	out, err := f.run(slow, at, f.dialer(300*time.Millisecond, nil))
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), h2.Addr) || !strings.Contains(err.Error(), "keepalive") {
		t.Fatalf("error = %v, want host2 reported dead by keepalives\n%s", err, out)
	}
	if took > 10*time.Second {
		t.Errorf("noticing the hung host took %v", took)
	}
}
