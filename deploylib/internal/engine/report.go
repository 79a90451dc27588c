package engine

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// hostReport describes, per release host, where current points after a
// failed or interrupted run that reached publishing, and says whether the
// hosts agree. What this run left each host serving is what it remembers;
// what the host serves is read back from it (another run may have
// published since, after a deploy:unlock), and the report says which is
// which when they differ or the host cannot be asked. all are the run's
// hosts, in order, with their states; release is the run's release
// directory, deployTo the stage's; read asks hosts where current points
// now (readCurrent), except in a dry run.
func (l *runLog) hostReport(all []*Host, states hostStates, release, deployTo string, read func(hosts []*Host) []currentReadBack) []string {
	tried := false
	for _, h := range all {
		if states[h].switchTried {
			tried = true
		}
	}
	if !tried {
		return nil
	}
	var hosts []*Host
	for _, h := range all {
		if !h.Server.NoRelease {
			hosts = append(hosts, h)
		}
	}
	served := make([]currentReadBack, len(hosts))
	if !l.dryRun {
		served = read(hosts)
	}
	lines := []string{"publishing, per host:"}
	final := map[string]bool{}
	unknown := false
	for i, h := range hosts {
		st := states[h]
		prev := st.learned.previous
		if prev == "" {
			prev = "(no release)"
		}
		var line, now string
		switch {
		case st.unknown != "":
			line = "UNKNOWN: " + st.unknown + "; check current on this host by hand"
		case st.switchedBack:
			line, now = "switched back to "+prev, prev
		case st.switched:
			line, now = "serves the new release "+release, release
		default:
			line, now = "unchanged, serves "+prev, prev
		}
		rb := served[i]
		switch {
		case l.dryRun || (rb.err != nil && st.unknown != ""):
		case rb.err != nil:
			line += " (as this run left it; not read back: " + firstLine(rb.err.Error()) + ")"
		case st.unknown != "":
			line = "serves " + orNoRelease(rb.current) + " (read back now; this run lost track of it: " + st.unknown + ")"
			now = orNoRelease(rb.current)
		case rb.current != absRelease(deployTo, now):
			line = "serves " + orNoRelease(rb.current) + " (read back now; this run left it: " + line + "; another run or someone changed it since)"
			now = orNoRelease(rb.current)
		}
		if now == "" {
			unknown = true
		}
		final[absRelease(deployTo, now)] = true
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
		for i, rel := range rels {
			rels[i] = orNoRelease(rel)
		}
		lines = append(lines, "HOSTS DISAGREE: they serve "+strings.Join(rels, " and "))
	default:
		lines = append(lines, "all hosts serve the same release")
	}
	return lines
}

// orNoRelease returns current, or "(no release)" when it is "".
func orNoRelease(current string) string {
	if current == "" {
		return "(no release)"
	}
	return current
}

// absRelease returns where current points as an absolute path: rel as
// readlink printed it, relative ones in deployTo; "" for "(no release)".
func absRelease(deployTo, rel string) string {
	switch {
	case rel == "" || rel == "(no release)":
		return ""
	case path.IsAbs(rel):
		return path.Clean(rel)
	}
	return path.Join(deployTo, rel)
}

// currentReadBack is where a host's current points, as read back from it.
type currentReadBack struct {
	current string // absolute; "" when there is no current
	err     error
}

// currentMarker starts the answer of the read-back command.
const currentMarker = "capstan-current"

// readCurrent asks each of hosts where its current (the path current)
// points now, resolving a relative link in deployTo; it waits at most
// readBackTimeout, less when a second signal (in) ends the cleanup.
func readCurrent(ctx context.Context, in *interrupts, hosts []*Host, current, deployTo string) []currentReadBack {
	res := make([]currentReadBack, len(hosts))
	ctx, cancel := in.cleanupContext(ctx, readBackTimeout)
	defer cancel()
	cmd := shell.New("echo", currentMarker).And(shell.New("readlink", current).Or(shell.New("echo")))
	inParallel(hosts, func(i int, h *Host) {
		out, err := h.CaptureCommand(ctx, cmd)
		if err != nil {
			res[i].err = err
			return
		}
		marker, link, _ := strings.Cut(strings.TrimSpace(out), "\n")
		link = strings.TrimSpace(link)
		switch {
		case marker != currentMarker:
			res[i].err = fmt.Errorf("%s: no answer to where current points", h)
		case strings.ContainsAny(link, "\n\r\x00") || strings.ContainsFunc(link, unicode.IsControl):
			res[i].err = fmt.Errorf("%s: current points to a path with control characters", h)
		default:
			res[i].current = absRelease(deployTo, link)
		}
	})
	return res
}

// readBackTimeout is how long the report waits for the hosts to say where
// current points.
const readBackTimeout = 10 * time.Second
