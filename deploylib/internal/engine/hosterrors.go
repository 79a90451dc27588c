package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// hostErrors is the error of work on several hosts ([On]): every host's
// error, reachable with errors.As and errors.Is. Its message says a
// command that failed on several hosts once, with the hosts and how it
// ended on each, instead of once per host; the log keeps every command
// whole.
type hostErrors []error

// joinHostErrors returns the non-nil errs as one error, nil for none.
func joinHostErrors(errs ...error) error {
	var out hostErrors
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (e hostErrors) Unwrap() []error { return e }

func (e hostErrors) Error() string {
	type group struct {
		first  int
		prefix string // what wraps the command error ("cannot read repository x: ")
		errs   []*CommandError
	}
	var groups []*group
	byCmd := map[string]*group{}
	var lines []string
	for _, err := range e {
		var ce *CommandError
		msg := err.Error()
		if !errors.As(err, &ce) || connectErrorOf(ce.Err) != nil || !strings.HasSuffix(msg, ce.Error()) {
			lines = append(lines, msg)
			continue
		}
		prefix := strings.TrimSuffix(msg, ce.Error())
		key := prefix + "\x00" + ce.Command
		g := byCmd[key]
		if g == nil {
			g = &group{first: len(lines), prefix: prefix}
			byCmd[key] = g
			groups = append(groups, g)
			lines = append(lines, "") // filled below
		}
		g.errs = append(g.errs, ce)
	}
	for _, g := range groups {
		lines[g.first] = g.prefix + groupMessage(g.errs)
	}
	return strings.Join(lines, "\n")
}

// groupMessage describes one command that failed on every host of errs:
// "web1, web2: cmd: exit status 3" and the stderr once when the hosts
// agree, else each host's.
func groupMessage(errs []*CommandError) string {
	if len(errs) == 1 {
		return errs[0].Error()
	}
	var hosts, ends, stderrs []string
	for _, ce := range errs {
		hosts = append(hosts, ce.Host)
		ends = append(ends, ce.Err.Error())
		stderrs = append(stderrs, lastLines(ce.Stderr, 5))
	}
	var b strings.Builder
	if len(slices.Compact(slices.Clone(ends))) == 1 {
		fmt.Fprintf(&b, "%s: %s: %s", strings.Join(hosts, ", "), errs[0].Command, ends[0])
	} else {
		parts := make([]string, len(errs))
		for i := range errs {
			parts[i] = hosts[i] + " (" + ends[i] + ")"
		}
		fmt.Fprintf(&b, "%s: %s", strings.Join(parts, ", "), errs[0].Command)
	}
	indent := func(s string) string { return strings.ReplaceAll(s, "\n", "\n            ") }
	if len(slices.Compact(slices.Clone(stderrs))) == 1 {
		if stderrs[0] != "" {
			b.WriteString("\n    stderr: " + indent(stderrs[0]))
		}
		return b.String()
	}
	for i, s := range stderrs {
		if s != "" {
			fmt.Fprintf(&b, "\n    stderr of %s: %s", hosts[i], indent(s))
		}
	}
	return b.String()
}
