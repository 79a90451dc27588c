package engine

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// The process's interrupt signals, relayed to every run in progress.

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
