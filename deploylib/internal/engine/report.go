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
// which when they differ or the host cannot be asked.
func (r *Run) hostReport(ctx context.Context) []string {
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
	var hosts []*Host
	for _, h := range r.hosts {
		if !h.Server.NoRelease {
			hosts = append(hosts, h)
		}
	}
	served := r.readCurrent(ctx, hosts)
	lines := []string{"publishing, per host:"}
	final := map[string]bool{}
	unknown := false
	for i, h := range hosts {
		st := r.state[h]
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
		case r.dryRun || (rb.err != nil && st.unknown != ""):
		case rb.err != nil:
			line += " (as this run left it; not read back: " + firstLine(rb.err.Error()) + ")"
		case st.unknown != "":
			line = "serves " + orNoRelease(rb.current) + " (read back now; this run lost track of it: " + st.unknown + ")"
			now = orNoRelease(rb.current)
		case rb.current != r.absRelease(now):
			line = "serves " + orNoRelease(rb.current) + " (read back now; this run left it: " + line + "; another run or someone changed it since)"
			now = orNoRelease(rb.current)
		}
		if now == "" {
			unknown = true
		}
		final[r.absRelease(now)] = true
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
// readlink printed it, relative ones in DeployTo; "" for "(no release)".
func (r *Run) absRelease(rel string) string {
	switch {
	case rel == "" || rel == "(no release)":
		return ""
	case path.IsAbs(rel):
		return path.Clean(rel)
	}
	return path.Join(r.Config.DeployTo, rel)
}

// currentReadBack is where a host's current points, as read back from it.
type currentReadBack struct {
	current string // absolute; "" when there is no current
	err     error
}

// currentMarker starts the answer of the read-back command.
const currentMarker = "capstan-current"

// readCurrent asks each host where its current points now.
func (r *Run) readCurrent(ctx context.Context, hosts []*Host) []currentReadBack {
	res := make([]currentReadBack, len(hosts))
	if r.dryRun {
		return res
	}
	ctx, cancel := r.intr.cleanupContext(ctx, readBackTimeout)
	defer cancel()
	cmd := shell.New("echo", currentMarker).And(shell.New("readlink", r.layout().Current()).Or(shell.New("echo")))
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
			res[i].current = r.absRelease(link)
		}
	})
	return res
}

// readBackTimeout is how long the report waits for the hosts to say where
// current points.
const readBackTimeout = 10 * time.Second
