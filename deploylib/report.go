package deploylib

import (
	"fmt"
	"sort"
	"strings"
)

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
		if h.Server.NoRelease {
			continue
		}
		st := r.state[h]
		prev := st.learned.previous
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
