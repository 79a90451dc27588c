package engine

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/console"
)

// A run's interrupts: the signals it receives while it runs (signals.go
// relays them), and the contexts its cleanup runs on. See lifecycle.go for
// what a run does after an interrupt.

// abandonWait is how long Start waits, after a second signal, for the
// cancelled cleanup to return.
const abandonWait = 3 * time.Second

// interrupts owns a run's interrupts: the signals it received, the
// cancellation of the run's context they cause, and the contexts of the
// work done after them (cleanupContext, detached). It warns on console as
// each signal arrives. A nil *interrupts (a run that never watched) has
// received nothing.
type interrupts struct {
	cleanup   bool // the run cleans up after an interrupt (lifecycle.go)
	console   *console.Console
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

// Whether a run has work to do after an interrupt, for interrupts.cleanup.
const (
	withCleanup   = true  // a task's run: deploy:failed, switching back, the lock
	nothingToUndo = false // a read-only run: stopping is all there is to do
)

// watchInterrupts subscribes a run to the interrupt signals: it returns
// the record of those the run receives, the context the run's tasks use,
// cancelled by the first signal, and a function to call when the run ends.
// cleanup says whether the run does work after an interrupt, which the
// warnings on c mention.
func watchInterrupts(parent context.Context, cleanup bool, c *console.Console) (*interrupts, context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	stopDeadline := func() {}
	if dl, ok := parent.Deadline(); ok {
		// mage -t kills the process at its deadline without waiting:
		// stop the tasks a little earlier so the cleanup has time.
		reserve := min(5*time.Second, time.Until(dl)/4)
		ctx, stopDeadline = context.WithDeadline(ctx, dl.Add(-reserve))
	}
	hard, stopHard := context.WithCancel(context.WithoutCancel(parent))
	in := &interrupts{cleanup: cleanup, console: c, cancelRun: cancel, hard: hard, stopHard: stopHard, abandon: make(chan struct{})}
	unsubscribe := subscribeSignals(in.onSignal)
	return in, ctx, func() {
		unsubscribe()
		stopDeadline()
		cancel(nil)
		stopHard()
	}
}

// onSignal is called for every interrupt signal the process receives
// while the run runs.
func (in *interrupts) onSignal(sig os.Signal) {
	in.mu.Lock()
	in.count++
	n := in.count
	if n == 1 {
		in.sig = sig
	}
	in.mu.Unlock()
	switch {
	case n == 1 && in.cleanup:
		in.console.Warn("%s received: stopping the commands in flight, then cleaning up (switching hosts back if needed, removing the half-built release, releasing the deploy lock); send it again to abandon the cleanup", signalName(sig))
		in.cancelRun(&interruptCause{sig: sig})
	case n == 1:
		in.console.Warn("%s received: stopping the commands in flight; send it again to stop waiting for them", signalName(sig))
		in.cancelRun(&interruptCause{sig: sig})
	case n == 2:
		if in.cleanup {
			in.console.Warn("%s received again: abandoning the cleanup", signalName(sig))
		} else {
			in.console.Warn("%s received again: no longer waiting for the commands in flight", signalName(sig))
		}
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
func (in *interrupts) cleanupContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	if in == nil {
		return c, cancel
	}
	stop := context.AfterFunc(in.hard, cancel)
	return c, func() { stop(); cancel() }
}

// detached returns a context with ctx's values that ctx's cancellation
// does not end, but a second signal and the end of the run do.
func (in *interrupts) detached(ctx context.Context) context.Context {
	if in == nil {
		return context.WithoutCancel(ctx)
	}
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	context.AfterFunc(in.hard, cancel)
	return c
}
