package sshbackend

import (
	"fmt"
	"time"
)

// keepAlive sends a keepalive@openssh.com request every interval, one at a
// time. When maxMissed intervals pass without an answer, or a request
// fails, it declares the host dead and closes the connection. It returns
// when the connection is closed.
func (c *Conn) keepAlive(interval time.Duration, maxMissed int) {
	defer c.wg.Done()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var pending chan error // the outstanding request's answer; nil when none
	missed := 0
	for {
		select {
		case <-c.closed:
			return
		case <-c.dead:
			return
		case err := <-pending:
			pending = nil
			missed = 0
			if err != nil {
				select {
				case <-c.closed: // Close broke the request
					return
				default:
				}
				c.die(fmt.Errorf("%w: keepalive request failed: %v", ErrHostStoppedAnswering, err))
				return
			}
		case <-tick.C:
			if pending != nil {
				missed++
				if missed >= maxMissed {
					c.die(fmt.Errorf("%w: no answer to a keepalive request for %s (%d × %s)",
						ErrHostStoppedAnswering, time.Duration(missed)*interval, missed, interval))
					return
				}
				continue
			}
			// The request goroutine ends when the answer comes or the
			// connection is closed, whichever is first.
			pending = make(chan error, 1)
			go func(answer chan<- error) {
				// OpenSSH answers "false": any answer means alive.
				_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
				answer <- err
			}(pending)
		}
	}
}
