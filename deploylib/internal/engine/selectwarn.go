package engine

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
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

// warnFiltered warns, once per selector and run, when a selector for roles
// selects no host because the HOSTS or ROLES filter left out the stage's
// servers of those roles: the hook then does nothing, which the user
// should hear about. A stage with no server of the roles selects nothing
// silently (Capistrano's rule).
func (r *Run) warnFiltered(selector string, roles []string) {
	if r.filter == "" {
		return
	}
	var left []string
	for _, s := range r.Stage.Servers {
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
	r.mu.Lock()
	if r.warned == nil {
		r.warned = map[string]bool{}
	}
	seen := r.warned[selector]
	r.warned[selector] = true
	r.mu.Unlock()
	if seen {
		return
	}
	r.console.Warn("%s selects no host: %s leaves out %s; what runs on it (%s) does nothing in this run",
		selector, r.filter, strings.Join(left, ", "), r.console.CurrentTask())
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
