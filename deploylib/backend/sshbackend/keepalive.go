package sshbackend

import (
	"fmt"
	"sync"
	"time"
)

// keepAlive sends keepalive@openssh.com requests for a connection, one at
// a time, every interval. When maxMissed intervals pass without an answer,
// or a request fails, it declares the host dead and closes the connection.
//
// It holds no goroutine between requests: a timer's function sends each
// request and waits for its answer (a connection that idles between
// deploy steps would otherwise keep a goroutine and its stack, a
// thousand of them at a thousand hosts).
type keepAlive struct {
	c         *Conn
	interval  time.Duration
	maxMissed int

	mu      sync.Mutex
	timer   *time.Timer
	pending bool // a request is waiting for its answer
	missed  int  // intervals passed while it waits
	stopped bool
	running sync.WaitGroup // timer functions in progress
}

// startKeepAlive starts c's keepalives.
func (c *Conn) startKeepAlive(interval time.Duration, maxMissed int) *keepAlive {
	k := &keepAlive{c: c, interval: interval, maxMissed: maxMissed}
	k.mu.Lock()
	k.timer = time.AfterFunc(interval, k.tick)
	k.mu.Unlock()
	return k
}

// stop ends the keepalives and waits for a request in progress, which
// ends once the connection is closed.
func (k *keepAlive) stop() {
	if k == nil {
		return
	}
	k.mu.Lock()
	k.stopped = true
	k.timer.Stop()
	k.mu.Unlock()
	k.running.Wait()
}

// tick is the timer's function, every interval.
func (k *keepAlive) tick() {
	k.mu.Lock()
	if k.stopped || k.c.isDead() || isClosed(k.c.closed) {
		k.mu.Unlock()
		return
	}
	if k.pending {
		k.missed++
		if k.missed >= k.maxMissed {
			missed := k.missed
			k.stopped = true
			k.mu.Unlock()
			k.c.die(fmt.Errorf("%w: no answer to a keepalive request for %s (%d × %s)",
				ErrHostStoppedAnswering, time.Duration(missed)*k.interval, missed, k.interval))
			return
		}
		k.timer.Reset(k.interval)
		k.mu.Unlock()
		return
	}
	k.pending = true
	k.running.Add(1)
	defer k.running.Done()
	k.timer.Reset(k.interval) // the next tick counts this request's wait
	k.mu.Unlock()

	// OpenSSH answers "false": any answer means alive. The request ends
	// when the answer comes or the connection is closed, whichever is
	// first.
	_, _, err := k.c.client.SendRequest("keepalive@openssh.com", true, nil)

	k.mu.Lock()
	k.pending, k.missed = false, 0
	stopped := k.stopped
	if err != nil {
		k.stopped = true
		k.timer.Stop()
	}
	k.mu.Unlock()
	if err != nil && !stopped && !isClosed(k.c.closed) { // not Close breaking the request
		k.c.die(fmt.Errorf("%w: keepalive request failed: %v", ErrHostStoppedAnswering, err))
	}
}
