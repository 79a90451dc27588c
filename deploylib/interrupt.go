package deploylib

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/console"
)

// How a run ends, whatever happens to it.
//
// A run owns SIGINT, SIGTERM and SIGHUP while it runs. Mage's own handler
// cancels the target's context on Ctrl-C and then kills the process five
// seconds later, which can cut a cleanup short; SIGTERM (what CI sends) it
// does not handle at all. So the run detaches mage's handler
// (signal.Ignore) and installs its own (signal.Notify). The first signal
// cancels the run's context: the backends stop the commands in flight (the
// Local backend kills their process group, the SSH backend kills the
// remote process group), no new task starts, and the cleanup runs on a
// context of its own: hosts already switched are switched back if
// publishing was under way, deploy:failed removes the half-built release,
// and the deploy lock is released. Start then returns an
// [*InterruptedError], which mage turns into exit status 130 (SIGINT), 143
// (SIGTERM) or 129 (SIGHUP). A second signal cancels the cleanup too, and
// Start returns at most abandonWait later, saying what may be left behind.

// cleanupTimeout bounds the work done after a failure or an interrupt.
const cleanupTimeout = 60 * time.Second

// abandonWait is how long Start waits, after a second signal, for the
// cancelled cleanup to return.
const abandonWait = 3 * time.Second

// interruptSignals are the signals a run handles.
var interruptSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// signalHub relays the process's signals to every run in progress (tests
// start several runs at once; a team's magefile could too).
var signalHub struct {
	mu   sync.Mutex
	subs map[int]func(os.Signal)
	next int
	ch   chan os.Signal
	quit chan struct{}
}

// subscribeSignals calls fn for every interrupt signal until the returned
// function is called. fn must not block.
func subscribeSignals(fn func(os.Signal)) (unsubscribe func()) {
	h := &signalHub
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) == 0 {
		sigs := interruptSignals
		if signal.Ignored(syscall.SIGHUP) {
			// Started under nohup: a hangup must not stop the deploy.
			sigs = []os.Signal{syscall.SIGINT, syscall.SIGTERM}
		}
		h.subs = map[int]func(os.Signal){}
		h.ch = make(chan os.Signal, 8)
		h.quit = make(chan struct{})
		// Ignore first: it detaches every earlier Notify for these
		// signals, mage's among them; Notify then routes them here alone.
		signal.Ignore(sigs...)
		signal.Notify(h.ch, sigs...)
		go relaySignals(h.ch, h.quit)
	}
	id := h.next
	h.next++
	h.subs[id] = fn
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[id]; !ok {
			return
		}
		delete(h.subs, id)
		if len(h.subs) == 0 {
			signal.Stop(h.ch)
			close(h.quit)
		}
	}
}

func relaySignals(ch chan os.Signal, quit chan struct{}) {
	for {
		select {
		case sig := <-ch:
			deliverSignal(sig)
		case <-quit:
			return
		}
	}
}

// deliverSignal hands sig to every run in progress.
func deliverSignal(sig os.Signal) {
	h := &signalHub
	h.mu.Lock()
	fns := make([]func(os.Signal), 0, len(h.subs))
	for _, fn := range h.subs {
		fns = append(fns, fn)
	}
	h.mu.Unlock()
	for _, fn := range fns {
		fn(sig)
	}
}

// interrupts is a run's record of the signals it received.
type interrupts struct {
	mu        sync.Mutex
	sig       os.Signal // the first signal, nil until one arrives
	count     int
	cancelRun context.CancelCauseFunc
	hard      context.Context // cancelled by a second signal and at the end
	stopHard  context.CancelFunc
	abandon   chan struct{}
	abandoned sync.Once
}

func (in *interrupts) signal() os.Signal {
	if in == nil {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.sig
}

// watchInterrupts subscribes r to the interrupt signals. It returns the
// context the run's tasks use, cancelled by the first signal, and a
// function to call when the run ends.
func (r *Run) watchInterrupts(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	stopDeadline := func() {}
	if dl, ok := parent.Deadline(); ok {
		// mage -t kills the process at its deadline without waiting:
		// stop the tasks a little earlier so the cleanup has time.
		reserve := min(5*time.Second, time.Until(dl)/4)
		ctx, stopDeadline = context.WithDeadline(ctx, dl.Add(-reserve))
	}
	hard, stopHard := context.WithCancel(context.WithoutCancel(parent))
	r.intr = &interrupts{cancelRun: cancel, hard: hard, stopHard: stopHard, abandon: make(chan struct{})}
	unsubscribe := subscribeSignals(r.onSignal)
	return ctx, func() {
		unsubscribe()
		stopDeadline()
		cancel(nil)
		stopHard()
	}
}

// onSignal is called for every interrupt signal the process receives
// while r runs.
func (r *Run) onSignal(sig os.Signal) {
	in := r.intr
	in.mu.Lock()
	in.count++
	n := in.count
	if n == 1 {
		in.sig = sig
	}
	in.mu.Unlock()
	switch n {
	case 1:
		r.console.Warn("%s received: stopping the commands in flight, then cleaning up (switching hosts back if needed, removing the half-built release, releasing the deploy lock); send it again to abandon the cleanup", signalName(sig))
		in.cancelRun(&interruptCause{sig: sig})
	case 2:
		r.console.Warn("%s received again: abandoning the cleanup", signalName(sig))
		in.stopHard()
		time.AfterFunc(abandonWait, func() { in.abandoned.Do(func() { close(in.abandon) }) })
	default:
		in.abandoned.Do(func() { close(in.abandon) })
	}
}

// interruptCause is the cause of a run context cancelled by a signal.
type interruptCause struct{ sig os.Signal }

func (c *interruptCause) Error() string { return "interrupted by " + signalName(c.sig) }

// cleanupContext returns a context with ctx's values (the run) that
// outlives ctx's cancellation, for the work that must be done after a
// failure or an interrupt. Only a second signal, or the timeout, ends it.
func (r *Run) cleanupContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	if r.intr == nil {
		return c, cancel
	}
	stop := context.AfterFunc(r.intr.hard, cancel)
	return c, func() { stop(); cancel() }
}

// detached returns a context with ctx's values that ctx's cancellation
// does not end, but a second signal and the end of the run do.
func (r *Run) detached(ctx context.Context) context.Context {
	if r.intr == nil {
		return context.WithoutCancel(ctx)
	}
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	context.AfterFunc(r.intr.hard, cancel)
	return c
}

// supervise runs task to its end under r's signal handling.
func (r *Run) supervise(ctx context.Context, task *Task) error {
	ctx, stop := r.watchInterrupts(ctx)
	defer stop()
	r.dialAhead(ctx) // dial.go
	done := make(chan error, 1)
	go func() { done <- r.runToEnd(ctx, task) }()
	select {
	case err := <-done:
		return err
	case <-r.intr.abandon:
		err := fmt.Errorf("the cleanup was abandoned: hosts may still hold this run's deploy lock (clear it with mage %s deploy:unlock) and its half-built release (the next deploy's cleanup removes it)", r.Stage.Name)
		r.console.Warn("%v", err)
		return &InterruptedError{Signal: r.intr.signal(), Err: err}
	}
}

// runToEnd runs task, then what its outcome requires: on success the lock
// release; on failure or interrupt deploy:failed (which removes the
// half-built release), the per-host publishing report and the lock
// release.
func (r *Run) runToEnd(ctx context.Context, task *Task) error {
	err := r.invokeRoot(ctx, task)
	// The lock's release has a budget of its own: a slow deploy:failed
	// hook or removal cannot leave the lock behind.
	release := func() error {
		lctx, cancel := r.cleanupContext(ctx, lockReleaseTimeout)
		defer cancel()
		return r.releaseLocks(lctx)
	}
	if err == nil {
		if lerr := release(); lerr != nil {
			r.console.Warn("%v", lerr)
		}
		r.finish(nil)
		return nil
	}
	cctx, cancel := r.cleanupContext(ctx, r.cleanupTimeout)
	defer cancel()
	var locked *LockedError
	if !errors.As(err, &locked) {
		// A run refused by another run's lock did nothing; its
		// deploy:failed hooks must not act while the other run works.
		if ferr := r.invokeRecovered(cctx, Failed); ferr != nil {
			err = errors.Join(err, fmt.Errorf("while handling the failure: %w", ferr))
		}
	}
	cancel()
	if lerr := release(); lerr != nil {
		err = errors.Join(err, lerr)
	}
	sig := r.intr.signal()
	if sig != nil {
		r.console.Warn("interrupted by %s; cleanup done", signalName(sig))
	}
	for _, l := range r.hostReport() {
		r.console.Warn("%s", l)
	}
	r.finish(err)
	if sig != nil {
		return &InterruptedError{Signal: sig, Err: err}
	}
	return &runError{err: err}
}

// invokeRoot invokes task as the root of the run, taking the deploy lock
// first when task changes the servers and does not take it itself.
func (r *Run) invokeRoot(ctx context.Context, task *Task) error {
	if r.needsLock(task) {
		if err := r.invokeRecovered(ctx, Lock); err != nil {
			return err
		}
	}
	return r.invokeRecovered(ctx, task)
}

// invokeRecovered invokes t, turning a panic of a task or hook into an
// error, so the failure handling still runs.
func (r *Run) invokeRecovered(ctx context.Context, t *Task) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &TaskError{Task: t.name, Err: fmt.Errorf("panic: %v\n%s", p, debug.Stack())}
		}
	}()
	return r.invoke(ctx, t, false)
}

// needsLock reports whether task, started on its own, must hold the
// deploy lock: every standard task does (deploy:cleanup run beside a deploy
// would remove that deploy's unfinished release), except those that only
// read and the lock tasks themselves. A team's own tasks and ad-hoc
// commands do not lock.
func (r *Run) needsLock(task *Task) bool {
	switch task {
	case Lock, Unlock, GitCheck:
		return false
	}
	standard := false
	for _, t := range StandardTasks() {
		if t == task {
			standard = true
			break
		}
	}
	if !standard {
		return false
	}
	seen := map[*Task]bool{}
	reachable(r.Config, task, seen)
	return !seen[Lock]
}

// hostReport describes, per release host, where current points after a
// failed or interrupted run that reached publishing, and says whether the
// hosts agree.
func (r *Run) hostReport() []string {
	tried := false
	for _, h := range r.hosts {
		if r.state[h].switchTried {
			tried = true
		}
	}
	if !tried {
		return nil
	}
	release := r.ReleasePath()
	lines := []string{"publishing, per host:"}
	final := map[string]bool{}
	unknown := false
	for _, h := range r.hosts {
		if h.NoRelease {
			continue
		}
		st := r.state[h]
		prev := st.previous
		if prev == "" {
			prev = "(no release)"
		}
		var line, now string
		switch {
		case st.unknown != "":
			line, unknown = "UNKNOWN: "+st.unknown+"; check current on this host by hand", true
		case st.switchedBack:
			line, now = "switched back to "+prev, prev
		case st.switched:
			line, now = "serves the new release "+release, release
		default:
			line, now = "unchanged, serves "+prev, prev
		}
		final[now] = true
		lines = append(lines, fmt.Sprintf("  %s: %s", h, line))
	}
	switch {
	case unknown:
		lines = append(lines, "the state of some hosts is unknown: they may disagree")
	case len(final) > 1:
		var rels []string
		for rel := range final {
			rels = append(rels, rel)
		}
		sort.Strings(rels)
		lines = append(lines, "HOSTS DISAGREE: they serve "+strings.Join(rels, " and "))
	default:
		lines = append(lines, "all hosts serve the same release")
	}
	return lines
}

// eachHost runs fn for every host in parallel and waits for all.
func eachHost(hosts []*Host, fn func(h *Host)) {
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(h)
		}()
	}
	wg.Wait()
}

// InterruptedError is what [Start] returns when a signal interrupted the
// run. Its ExitStatus is 128 plus the signal number (130 for SIGINT, 143
// for SIGTERM), which mage uses as the exit status.
type InterruptedError struct {
	Signal os.Signal
	// Err is what the run reported after stopping.
	Err error
}

func (e *InterruptedError) Error() string {
	return redact(fmt.Sprintf("interrupted by %s: %v", signalName(e.Signal), e.Err))
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// ExitStatus returns 128 plus the signal number.
func (e *InterruptedError) ExitStatus() int {
	if s, ok := e.Signal.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

// TimeoutError reports a remote command stopped because it ran longer
// than Config.CommandTimeout.
type TimeoutError struct {
	After time.Duration
	Err   error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("timed out after %s (Config.CommandTimeout); the command was stopped", e.After)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// runError is the error of a failed run as Start returns it: its message
// is redacted, since mage prints it.
type runError struct{ err error }

func (e *runError) Error() string { return console.Sanitize(redact(e.err.Error())) }
func (e *runError) Unwrap() error { return e.err }

func signalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	case nil:
		return "a signal"
	}
	return sig.String()
}
