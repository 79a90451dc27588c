package engine

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/capstan-deploy/capstan/deploylib/console"
)

// describeFilters returns the HOSTS and ROLES filters as the user typed
// them ("HOSTS=web1 ROLES=app"), "" when there are none.
func describeFilters(hosts, roles string) string {
	var parts []string
	if h := strings.TrimSpace(hosts); h != "" {
		parts = append(parts, "HOSTS="+h)
	}
	if r := strings.TrimSpace(roles); r != "" {
		parts = append(parts, "ROLES="+r)
	}
	return strings.Join(parts, " ")
}

// filterWarnings owns the warnings a run gives when the HOSTS or ROLES
// filter leaves a selector without hosts: one per selector and run, on
// console.
type filterWarnings struct {
	filter  string   // the filters, as describeFilters puts them; "" when none
	servers []Server // the stage's servers, before the filters
	console *console.Console
	mu      sync.Mutex
	given   map[string]bool // by selector
}

// warn warns, once per selector and run, when a selector for roles
// selects no host because the HOSTS or ROLES filter left out the stage's
// servers of those roles: the hook then does nothing, which the user
// should hear about. A stage with no server of the roles selects nothing
// silently (Capistrano's rule).
func (w *filterWarnings) warn(selector string, roles []string) {
	if w.filter == "" {
		return
	}
	var left []string
	for _, s := range w.servers {
		for _, role := range roles {
			if s.HasRole(role) {
				left = append(left, s.Host)
				break
			}
		}
	}
	if len(left) == 0 {
		return
	}
	w.mu.Lock()
	if w.given == nil {
		w.given = map[string]bool{}
	}
	seen := w.given[selector]
	w.given[selector] = true
	w.mu.Unlock()
	if seen {
		return
	}
	w.console.Warn("%s selects no host: %s leaves out %s; what runs on it (%s) does nothing in this run",
		selector, w.filter, strings.Join(left, ", "), w.console.CurrentTask())
}

// quoteList renders names as Go string literals separated by commas.
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// serverList names servers as the stage writes them.
func serverList(servers []Server) string {
	names := make([]string, len(servers))
	for i, s := range servers {
		names[i] = s.Host
	}
	return strings.Join(names, ", ")
}

// roleList names the roles servers play, sorted, "none" for none.
func roleList(servers []Server) string {
	var roles []string
	for _, s := range servers {
		for _, r := range s.Roles {
			if !slices.Contains(roles, r) {
				roles = append(roles, r)
			}
		}
	}
	if len(roles) == 0 {
		return "none (no server has Roles)"
	}
	slices.Sort(roles)
	return strings.Join(roles, ", ")
}

// homeHint suggests the absolute form of a deploy_to written from the
// home directory ("~/shop"), which the servers' shells would not expand
// inside quotes.
func homeHint(deployTo string) string {
	rest, ok := strings.CutPrefix(deployTo, "~/")
	if !ok {
		return ""
	}
	return fmt.Sprintf("; ~ is not expanded on the servers: write the absolute path, such as /home/deploy/%s (the login user's home)", rest)
}
