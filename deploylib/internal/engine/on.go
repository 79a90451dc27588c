package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Selector picks hosts of a run.
type Selector func(r *Run) ([]*Host, error)

// All selects every host of the run.
func All() Selector {
	return func(r *Run) ([]*Host, error) { return r.Hosts(), nil }
}

// ReleaseHosts selects every host that takes part in releases (all but
// the NoRelease servers); the standard tasks run on these.
func ReleaseHosts() Selector {
	return func(r *Run) ([]*Host, error) {
		var out []*Host
		for _, h := range r.hosts {
			if !h.Server.NoRelease {
				out = append(out, h)
			}
		}
		return out, nil
	}
}

// Roles selects the hosts that play any of roles. No matching host selects
// nothing, which is not an error (Capistrano's rule: a hook for the db
// role does nothing on a stage without one).
func Roles(roles ...string) Selector {
	return func(r *Run) ([]*Host, error) {
		var out []*Host
		for _, h := range r.hosts {
			for _, role := range roles {
				if h.HasRole(role) {
					out = append(out, h)
					break
				}
			}
		}
		if len(out) == 0 {
			r.warnings.warn(fmt.Sprintf("Roles(%s)", quoteList(roles)), roles)
		}
		return out, nil
	}
}

// Primary selects the primary host of role: the first server of the role
// marked Primary, else the first server of the role.
func Primary(role string) Selector {
	return func(r *Run) ([]*Host, error) {
		var first *Host
		for _, h := range r.hosts {
			if !h.HasRole(role) {
				continue
			}
			if h.Server.Primary {
				return []*Host{h}, nil
			}
			if first == nil {
				first = h
			}
		}
		if first == nil {
			r.warnings.warn(fmt.Sprintf("Primary(%q)", role), []string{role})
			return nil, nil
		}
		return []*Host{first}, nil
	}
}

// OnOption sets how [On] spreads work over hosts.
type OnOption func(*onOptions)

type onOptions struct {
	limit int           // hosts at once; 0 means all
	wait  time.Duration // pause between groups
}

// InSequence runs one host at a time, waiting wait between hosts, and
// stops at the first failure.
func InSequence(wait time.Duration) OnOption {
	return func(o *onOptions) { o.limit, o.wait = 1, wait }
}

// InGroups runs limit hosts at a time, waiting wait between groups.
func InGroups(limit int, wait time.Duration) OnOption {
	return func(o *onOptions) { o.limit, o.wait = limit, wait }
}

// On runs fn on the hosts sel picks, in parallel by default, and returns
// when every host is done: the block is a barrier. Errors from every host
// are collected and returned together, each naming its host.
func On(ctx context.Context, sel Selector, fn func(ctx context.Context, h *Host) error, opts ...OnOption) error {
	r, err := runOf(ctx)
	if err != nil {
		return err
	}
	hosts, err := sel(r)
	if err != nil {
		return err
	}
	var o onOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.limit <= 0 || o.limit > len(hosts) {
		o.limit = len(hosts)
	}
	errs := make([]error, len(hosts))
	for start := 0; start < len(hosts); start += o.limit {
		if start > 0 && o.wait > 0 {
			select {
			case <-time.After(o.wait):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		end := min(start+o.limit, len(hosts))
		inParallel(hosts[start:end], func(i int, h *Host) {
			i += start
			defer func() {
				// A panicking hook fails its host instead of killing the
				// process before the failure handling runs.
				if p := recover(); p != nil {
					errs[i] = fmt.Errorf("%s: panic: %v", h, p)
					r.console.HostFailed(h.String(), fmt.Sprintf("panic: %v", p))
				}
			}()
			if err := fn(ctx, h); err != nil {
				errs[i] = hostError(h, err)
				showHostError(ctx, r, h, err)
			}
		})
		if err := joinHostErrors(errs[start:end]...); err != nil && o.limit < len(hosts) {
			return err
		}
	}
	return joinHostErrors(errs...) // hosterrors.go
}

// inParallel runs fn for every host at once and waits for all: the one
// place where work is spread over hosts ([On] runs each of its groups
// with it; the planner's scripts, the lock's heartbeat and release and
// the read-back of current use it directly, outside any task).
func inParallel(hosts []*Host, fn func(i int, h *Host)) {
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i, h)
		}()
	}
	wg.Wait()
}

// showHostError prints a ✘ line for h when fn's error is its own (a hook
// that returned a plain error): a failed command already printed its ✘
// line, and an interrupted run says so once.
func showHostError(ctx context.Context, r *Run, h *Host, err error) {
	var ce *CommandError
	if errors.As(err, &ce) || ctx.Err() != nil {
		return
	}
	var le *LockedError
	if errors.As(err, &le) {
		return
	}
	r.console.HostFailed(h.String(), err.Error())
}

// hostError makes sure err names h.
func hostError(h *Host, err error) error {
	var ce *CommandError
	if errors.As(err, &ce) {
		return err
	}
	return fmt.Errorf("%s: %w", h, err)
}
