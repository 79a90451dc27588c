//go:build unix

package invariant

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// result is how an operation ended.
type result struct {
	runs      []runResult
	delivered bool   // the fault (signal, host loss) happened during the run
	release   string // the release a deploy makes
	rollback  string // ROLLBACK_RELEASE given, if any
	exclusion []string
	// decisive, when above 0, says that runs[decisive-1] alone tells
	// whether the operation succeeded (the others may be refused); when 0
	// every run counts.
	decisive int
	// viol are the violations found while the operation ran (between its
	// runs, or before it removed what it planted).
	viol []Violation
}

// runResult is one run of an operation.
type runResult struct {
	what   string
	pid    int   // a child's process id
	err    error // in-process runs
	status int   // exit status (as mage would exit)
	out    string
}

func (r runResult) failed() bool { return r.status != 0 }

func (r runResult) message() string {
	if r.err != nil {
		return r.err.Error()
	}
	return r.out
}

// exitStatus is what mage exits with for err.
func exitStatus(err error) int {
	if err == nil {
		return 0
	}
	if es, ok := err.(interface{ ExitStatus() int }); ok {
		return es.ExitStatus()
	}
	return 1
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

// run starts task in this process at time at.
func (w *world) run(task *deploylib.Task, at time.Time, opts ...deploylib.Option) runResult {
	var out syncBuffer
	all := append([]deploylib.Option{
		deploylib.WithStage(w.st), deploylib.WithOutput(&out), deploylib.WithColor(false),
		deploylib.WithClock(func() time.Time { return at }), deploylib.WithLogFile(""),
	}, opts...)
	err := deploylib.Start(context.Background(), task, all...)
	return runResult{what: task.Name(), err: err, status: exitStatus(err), out: out.String()}
}

// rollbackName turns an Op.Target into a ROLLBACK_RELEASE value, from the
// state of the first live host.
func (w *world) rollbackName(target string, v hostView) string {
	fin := finished(v)
	cur := currentName(v, w.sc.DeployTo)
	switch target {
	case "previous":
		if i := slices.Index(fin, cur); i > 0 {
			return fin[i-1]
		}
	case "oldest":
		if len(fin) > 0 {
			return fin[0]
		}
	case "current":
		if cur != "" {
			return cur
		}
	case "junk":
		if w.sc.Junk {
			return "20261125214038.bak"
		}
		return "current"
	case "":
		return ""
	}
	return "20000101000000"
}

// predictRollback returns the release a rollback must go to, or "" when
// it must refuse: with want, want itself if it is a finished release other
// than current on every host; else the newest finished release older than
// current (by name). Every live host must agree.
func (w *world) predictRollback(views []hostView, want string) string {
	target := ""
	for i, v := range views {
		if w.dead[i] {
			continue
		}
		fin := finished(v)
		cur := ""
		if v.Current != "" {
			cur = path.Base(v.Current)
		}
		t := ""
		switch {
		case want != "":
			if releaseName.MatchString(want) && slices.Contains(fin, want) && want != cur {
				t = want
			}
		case cur != "":
			for j := len(fin) - 1; j >= 0; j-- {
				if fin[j] < cur {
					t = fin[j]
					break
				}
			}
		}
		if t == "" || (target != "" && t != target) {
			return ""
		}
		target = t
	}
	return target
}

// do runs op and returns how it ended.
func (w *world) do(op Op, at time.Time, before []hostView) result {
	switch op.Kind {
	case OpDeploy:
		return result{runs: []runResult{w.run(deploylib.Deploy, at)}, release: remote.ReleaseNameAt(at)}
	case OpRollback:
		name := w.rollbackName(op.Target, before[w.firstLive()])
		w.t.Setenv("ROLLBACK_RELEASE", name)
		defer os.Setenv("ROLLBACK_RELEASE", "")
		return result{runs: []runResult{w.run(deploylib.Rollback, at)}, rollback: name}
	case OpTask:
		task, err := deploylib.TaskByName(op.Task)
		if err != nil {
			w.t.Fatal(err)
		}
		return result{runs: []runResult{w.run(task, at)}, release: remote.ReleaseNameAt(at)}
	case OpUnlock:
		return result{runs: []runResult{w.run(deploylib.Unlock, at)}}
	case OpManual:
		w.manualRelease()
		return result{}
	case OpHostLost:
		return w.hostLost(op, at)
	case OpHookFail:
		spec := w.childSpec(op.Flow, at)
		spec.HookTask, spec.HookAfter, spec.HookAddr = StrategyTask(w.sc.Strategy, op.HookTask), op.HookAfter, w.l.Hosts[op.Host].Addr
		c := w.spawn(spec)
		return result{runs: []runResult{c.wait(w)}, release: remote.ReleaseNameAt(at), delivered: true}
	case OpSignal:
		return w.signal(op, at)
	case OpTwo:
		return w.twoRuns(op, at)
	}
	return w.doExtra(op, at, before)
}

// spawn starts a child for spec.
func (w *world) spawn(spec childSpec) *child { return w.spawnIn(spec, nil) }

// spawnIn starts a child for spec, its command line after wrapper (which
// runs "$0" "$@", see namespaceWrapper), or directly when wrapper is nil.
func (w *world) spawnIn(spec childSpec, wrapper []string) *child {
	raw, _ := json.Marshal(spec)
	argv := append(slices.Clone(wrapper), os.Args[0], "-test.run=^$")
	c := &child{cmd: exec.Command(argv[0], argv[1:]...), done: make(chan struct{}), what: spec.Task}
	c.cmd.Env = append(os.Environ(), helperEnv+"="+string(raw), "USER=alice", "CI=", "HOSTS=", "ROLES=", "DRY_RUN=")
	c.cmd.Stdout = &c.out
	c.cmd.Stderr = &c.out
	if err := c.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() {
		c.cmd.Wait()
		close(c.done)
	}()
	w.t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			c.cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

func (w *world) firstLive() int {
	for i := range w.l.Hosts {
		if !w.dead[i] {
			return i
		}
	}
	return 0
}

// manualRelease is the team's own doing: a release made by hand under a
// name that is not 14 digits, and current pointed at it on every host.
func (w *world) manualRelease() {
	w.manual = "hotfix"
	for i, h := range w.l.Hosts {
		if w.dead[i] {
			continue
		}
		dir := w.app(h, "releases/hotfix")
		w.mkdirAll(dir, h.Root)
		for name, content := range map[string]string{"REVISION": w.sha + "\n", "hotfix.txt": "made by hand\n"} {
			os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
			os.Chown(filepath.Join(dir, name), w.uid, w.gid)
		}
		tmp := w.app(h, "current.hotfix")
		os.Remove(tmp)
		os.Symlink(path.Join(w.sc.DeployTo, "releases/hotfix"), tmp)
		os.Lchown(tmp, w.uid, w.gid)
		if err := os.Rename(tmp, w.app(h, "current")); err != nil {
			w.t.Fatal(err)
		}
	}
	w.team["releases/hotfix/hotfix.txt"] = "made by hand\n"
}

// hostLost runs op.Flow in this process and kills one host's sshd (and
// everything it runs) just before the host's op.Command-th command.
func (w *world) hostLost(op Op, at time.Time) result {
	victim := w.l.Hosts[op.Host]
	var n atomic.Int32
	var lost atomic.Bool
	dial := deploylib.WithDialer(func(ctx context.Context, s deploylib.Server) (backend.Conn, error) {
		_, h := w.hostOf(s)
		c, err := sshbackend.Dial(ctx, w.l.SSHConfig(h))
		if err != nil || h != victim {
			return c, err
		}
		return &hookConn{Conn: c, hook: func(cmd shell.Command) shell.Command {
			if int(n.Add(1)) == op.Command {
				lost.Store(true)
				victim.Stop()
			}
			return cmd
		}}, nil
	})
	task := deploylib.Deploy
	if op.Flow == "rollback" {
		task = deploylib.Rollback
	}
	r := w.run(task, at, dial)
	if lost.Load() {
		w.dead[op.Host] = true
	}
	return result{runs: []runResult{r}, delivered: lost.Load(), release: remote.ReleaseNameAt(at)}
}

// childSpec returns the spec of a child running flow ("deploy",
// "rollback" or a standard task) at time at.
func (w *world) childSpec(flow string, at time.Time) childSpec {
	task := flow
	if flow == "rollback" {
		task = "deploy:rollback"
	}
	return childSpec{
		Config: configSpec{RepoURL: w.bare, Branch: w.sc.Branch, DeployTo: w.sc.DeployTo, KeepReleases: w.sc.KeepReleases,
			LinkedFiles: w.sc.LinkedFiles, LinkedDirs: w.sc.LinkedDirs, Strategy: w.sc.Strategy, Build: w.build, Work: w.work},
		Stage: w.st, Task: task, At: at,
		User: w.l.User, KnownHosts: w.l.KnownHosts, KeyFile: w.l.ClientKey,
	}
}

// child is a run in a child process.
type child struct {
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	what string
}

// wait waits for the child to end (at most 90 s, then kills it and fails
// the test: a run that does not end is a finding of its own).
func (c *child) wait(w *world) runResult {
	select {
	case <-c.done:
	case <-time.After(90 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
		w.t.Errorf("%s did not end within 90 s; killed it. Output:\n%s", c.what, c.out.String())
	}
	return runResult{what: c.what, status: c.cmd.ProcessState.ExitCode(), out: c.out.String(), pid: c.cmd.Process.Pid}
}

// pausePoint is the pause machinery of one op: the directory the shims
// count in, its FIFOs, and the shim directory.
type pausePoint struct {
	dir, shims  string
	event, goOn *os.File
	events      chan string
}

// newPausePoint makes the FIFOs and the shims (once per lab).
func (w *world) newPausePoint() *pausePoint {
	t := w.t
	shims := filepath.Join(w.l.Dir, "shims")
	if _, err := os.Stat(shims); err != nil {
		os.Mkdir(shims, 0o755)
		script := filepath.Join(shims, "shim.sh")
		if err := os.WriteFile(script, []byte(shimScript), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, tool := range shimTools {
			if err := os.Symlink(script, filepath.Join(shims, tool)); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir, err := os.MkdirTemp(w.l.Dir, "pause-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	p := &pausePoint{dir: dir, shims: shims, events: make(chan string, 4)}
	for _, name := range []string{"event", "go"} {
		if err := syscall.Mkfifo(filepath.Join(dir, name), 0o666); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(dir, name), 0o666)
	}
	// Opened read-write, so that neither side's open blocks.
	if p.event, err = os.OpenFile(filepath.Join(dir, "event"), os.O_RDWR, 0); err != nil {
		t.Fatal(err)
	}
	if p.goOn, err = os.OpenFile(filepath.Join(dir, "go"), os.O_RDWR, 0); err != nil {
		t.Fatal(err)
	}
	go func() {
		r := bufio.NewReader(p.event)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				close(p.events)
				return
			}
			p.events <- strings.TrimSpace(line)
		}
	}()
	return p
}

// close releases anything still paused and closes the FIFOs.
func (p *pausePoint) close() {
	p.goOn.Write(bytes.Repeat([]byte("\n"), 16))
	p.event.Close()
	p.goOn.Close()
}

// signal runs op.Flow in a child, waits until the pause point is reached
// (an event from the remote shim), sends the signal, and waits for the
// child to end.
func (w *world) signal(op Op, at time.Time) result {
	p := w.newPausePoint()
	defer p.close()
	spec := w.childSpec(op.Flow, at)
	spec.PauseAddr, spec.PauseCommand, spec.PauseStep = w.l.Hosts[op.Host].Addr, op.Command, op.Step
	spec.PauseDir, spec.ShimDir = p.dir, p.shims
	c := w.spawn(spec)
	res := result{release: remote.ReleaseNameAt(at)}
	select {
	case ev := <-p.events:
		sig := syscall.SIGINT
		if op.Signal == "SIGTERM" {
			sig = syscall.SIGTERM
		}
		c.cmd.Process.Signal(sig)
		res.delivered = true
		r := c.wait(w)
		r.what += " (" + op.Signal + " " + ev + ")"
		res.runs = append(res.runs, r)
	case <-c.done:
		res.runs = append(res.runs, c.wait(w))
	}
	return res
}

// twoRuns starts op.Flow and op.Second in two children at the same
// moment (both wait on one FIFO) and waits for both.
func (w *world) twoRuns(op Op, at time.Time) result {
	excl, err := os.MkdirTemp(w.l.Dir, "excl-")
	if err != nil {
		w.t.Fatal(err)
	}
	start := filepath.Join(excl, "start")
	if err := syscall.Mkfifo(start, 0o666); err != nil {
		w.t.Fatal(err)
	}
	starter, err := os.OpenFile(start, os.O_RDWR, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	defer starter.Close()
	// Every other such op, the runs hang a declarative hook after
	// deploy:updated: on several hosts it travels in the script that
	// takes the lock, after the run's go-ahead, and must never run for a
	// run the lock refused.
	declHook := at.Unix()%2 == 0 && len(w.l.Hosts) > 1
	if declHook {
		for i, h := range w.l.Hosts {
			if !w.dead[i] {
				w.mkdirAll(w.path(h, hookLogDir), h.Root)
				os.Remove(filepath.Join(w.path(h, hookLogDir), "ran"))
			}
		}
	}
	var cs []*child
	for _, flow := range []string{op.Flow, op.Second} {
		spec := w.childSpec(flow, at)
		spec.Start, spec.ExclDir = start, excl
		if declHook {
			spec.DeclHook = hookLogDir
		}
		cs = append(cs, w.spawn(spec))
	}
	starter.Write([]byte("xx"))
	res := result{release: remote.ReleaseNameAt(at)}
	for _, c := range cs {
		res.runs = append(res.runs, c.wait(w))
	}
	if declHook {
		res.viol = append(res.viol, w.checkDeclHook(res.runs)...)
	}
	vs, _ := filepath.Glob(filepath.Join(excl, "violation-*"))
	for _, v := range vs {
		b, _ := os.ReadFile(v)
		res.exclusion = append(res.exclusion, strings.TrimSpace(string(b)))
	}
	return res
}

// hookLogDir is where, on each host, the declarative hook of a two-runs
// operation records the runs it ran for (outside the checked tree).
const hookLogDir = "/srv/invariant-hooks"

// checkDeclHook checks what the declarative hook after deploy:updated
// recorded on the live hosts: never a run the lock refused, and on every
// host once for a deploy that succeeded.
func (w *world) checkDeclHook(runs []runResult) []Violation {
	var vs []Violation
	for i, h := range w.l.Hosts {
		if w.dead[i] {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(w.path(h, hookLogDir), "ran"))
		ran := strings.Fields(string(b))
		for _, r := range runs {
			n := slices.Index(ran, strconv.Itoa(r.pid))
			count := 0
			for _, p := range ran {
				if p == strconv.Itoa(r.pid) {
					count++
				}
			}
			msg := r.message()
			switch {
			case r.failed() && strings.Contains(msg, "deploy lock is held by") && n >= 0:
				vs = append(vs, Violation{Invariant: "lock-exclusive", Host: h.Name,
					Detail: fmt.Sprintf("the declarative hook after deploy:updated ran for %s (process %d), which the lock refused", r.what, r.pid)})
			case !r.failed() && r.what == "deploy" && count != 1:
				vs = append(vs, Violation{Invariant: "lock-exclusive", Host: h.Name,
					Detail: fmt.Sprintf("the declarative hook after deploy:updated ran %d times for %s (process %d), which succeeded; want once", count, r.what, r.pid)})
			}
		}
	}
	return vs
}

// strays lists the processes started through a live host's sshd that
// are still running (sshd's own aside), waiting up to 5 s for them to
// end.
func (w *world) strays() []string {
	var left []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		left = left[:0]
		for i, h := range w.l.Hosts {
			if w.dead[i] {
				continue
			}
			for _, p := range processesCarrying("CAPSTAN_LAB_HOST=" + filepath.Join(w.l.Dir, h.Name)) {
				left = append(left, h.Name+": "+p)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killStrays kills what strays found, so the next op starts clean.
func killStrays(left []string) {
	for _, l := range left {
		_, rest, _ := strings.Cut(l, ": ")
		pid, _, _ := strings.Cut(rest, " ")
		if n, err := strconv.Atoi(pid); err == nil {
			syscall.Kill(n, syscall.SIGKILL)
		}
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
		if c := strings.TrimSpace(string(comm)); c == "sshd" || strings.HasPrefix(c, "sshd-") {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		out = append(out, e.Name()+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	return out
}
