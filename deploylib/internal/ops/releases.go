package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
)

// Release is one release directory on one host, as [ListReleases]
// reports it.
type Release struct {
	// Name is the directory name, UTC %Y%m%d%H%M%S.
	Name string
	// Time is when the deploy that made it started (from Name).
	Time time.Time
	// Revision is the commit in its REVISION file, "" when missing.
	Revision string
	// Branch and DeployedBy come from its revisions.log line, "" when
	// revisions.log does not mention the release.
	Branch     string
	DeployedBy string
	// RolledBackBy is who last rolled back to the release, if anyone did
	// after it was deployed.
	RolledBackBy string
	// Current is set for the release current points at.
	Current bool
	// Unfinished is set for a release that never reached publishing.
	Unfinished bool
}

// HostReleases is what one host holds in <deploy_to>/releases.
type HostReleases struct {
	// Host is "user@host".
	Host string
	// Releases are the host's releases, newest first.
	Releases []Release
	// Current is the name of the release current points at, "" when
	// current is missing or points elsewhere; CurrentLink is what the link
	// holds.
	Current     string
	CurrentLink string
	// Err is why the host could not be asked.
	Err error
}

// parseReleases reads the output of the releases report.
func parseReleases(out, deployTo string) (HostReleases, error) {
	rep, err := remote.At(deployTo).ParseReleasesReport(out)
	if err != nil {
		return HostReleases{}, err
	}
	l, revision := rep.Listing, rep.Revision
	hr := HostReleases{Current: l.Current, CurrentLink: l.CurrentRaw}
	byName := map[string]*Release{}
	for _, name := range l.Releases {
		t, _ := time.Parse(remote.NameLayout, name)
		hr.Releases = append(hr.Releases, Release{
			Name: name, Time: t, Revision: revision[name],
			Current: name == l.Current, Unfinished: l.Unfinished[name],
		})
	}
	for i := range hr.Releases {
		byName[hr.Releases[i].Name] = &hr.Releases[i]
	}
	for _, e := range remote.ParseRevisionsLog(rep.LogTail) {
		rel := byName[e.Release]
		switch {
		case rel == nil:
		case e.Rollback:
			rel.RolledBackBy = e.User
		default:
			rel.Branch, rel.DeployedBy, rel.RolledBackBy = e.Branch, e.User, ""
			if rel.Revision == "" {
				rel.Revision = e.SHA
			}
		}
	}
	slices.Reverse(hr.Releases)
	return hr, nil
}

// ListReleases asks every release host of the run of ctx, with one
// command each, for its releases. A host that cannot be asked has Err set;
// the error returned joins those.
func ListReleases(ctx context.Context) ([]HostReleases, error) {
	s, err := engine.SessionOf(ctx)
	if err != nil {
		return nil, err
	}
	hosts, _ := engine.ReleaseHosts()(s.Run())
	out := make([]HostReleases, len(hosts))
	index := map[*engine.Host]int{}
	for i, h := range hosts {
		index[h] = i
		out[i].Host = h.String()
	}
	var mu sync.Mutex
	cmd := s.Layout().ReleasesReport()
	err = engine.On(ctx, engine.ReleaseHosts(), func(ctx context.Context, h *engine.Host) error {
		text, err := h.CaptureCommand(ctx, cmd)
		var hr HostReleases
		if err == nil && !s.DryRun() {
			hr, err = parseReleases(text+"\n", s.Run().Config.DeployTo)
		}
		mu.Lock()
		defer mu.Unlock()
		i := index[h]
		if err != nil {
			out[i].Err = err
			return err
		}
		hr.Host = out[i].Host
		out[i] = hr
		return nil
	})
	return out, err
}

// ShowReleases prints, per host of the selected stage, the releases newest
// first: which is current, its revision, who deployed it and when, and
// which never finished; then where the hosts disagree. It is the releases
// target: mage production releases.
func ShowReleases(ctx context.Context, opts ...engine.Option) error {
	return engine.StartReadOnly(ctx, "releases", opts, func(ctx context.Context, s *engine.Session) error {
		list, err := ListReleases(ctx)
		s.Console().Print(formatReleases(s.Run().Config.DeployTo, list, s.DryRun()))
		return err
	})
}

// formatReleases renders the releases of every host and their
// disagreements.
func formatReleases(deployTo string, list []HostReleases, dryRun bool) string {
	var b strings.Builder
	if dryRun {
		b.WriteString("dry run: nothing was asked, so no host reports a release\n")
	}
	for i, hr := range list {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s  %s\n", hr.Host, deployTo)
		if hr.Err != nil {
			fmt.Fprintf(&b, "  could not list releases: %s\n", reasonOf(hr.Err))
			continue
		}
		if len(hr.Releases) == 0 {
			b.WriteString("  no releases\n")
		}
		if hr.CurrentLink != "" && hr.Current == "" {
			fmt.Fprintf(&b, "  current -> %s, which is not a release in releases/\n", hr.CurrentLink)
		} else if hr.Current != "" && !slices.ContainsFunc(hr.Releases, func(r Release) bool { return r.Current }) {
			fmt.Fprintf(&b, "  current -> %s, which is missing\n", hr.CurrentLink)
		}
		if len(hr.Releases) == 0 {
			continue
		}
		var table strings.Builder
		tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "    RELEASE\tDEPLOYED (UTC)\tREVISION\tBRANCH\tBY\tSTATE")
		for _, rel := range hr.Releases {
			mark := "   "
			if rel.Current {
				mark = "  *"
			}
			fmt.Fprintf(tw, "%s %s\t%s\t%s\t%s\t%s\t%s\n", mark, rel.Name, rel.Time.Format("2006-01-02 15:04:05"),
				orDash(engine.ShortSHA(rel.Revision)), orDash(rel.Branch), orDash(rel.DeployedBy), releaseState(rel))
		}
		tw.Flush()
		for _, l := range strings.SplitAfter(table.String(), "\n") {
			b.WriteString(strings.TrimRight(strings.TrimSuffix(l, "\n"), " "))
			if strings.HasSuffix(l, "\n") {
				b.WriteString("\n")
			}
		}
	}
	if d := disagreements(list); len(d) > 0 {
		b.WriteString("\nHOSTS DISAGREE:\n")
		for _, l := range d {
			b.WriteString("  " + l + "\n")
		}
	} else if n := answeredHosts(list); n > 1 {
		fmt.Fprintf(&b, "\nAll %d hosts agree.\n", n)
	}
	return strings.TrimRight(b.String(), "\n")
}

func releaseState(r Release) string {
	var s []string
	if r.Current {
		s = append(s, "current")
	}
	if r.Unfinished {
		s = append(s, "unfinished")
	}
	if r.RolledBackBy != "" {
		s = append(s, "rolled back to by "+r.RolledBackBy)
	}
	return strings.Join(s, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// reasonOf says why a command failed in one line: for a command error,
// how it ended and the first line of its standard error, not the command.
func reasonOf(err error) string {
	var ce *engine.CommandError
	if errors.As(err, &ce) {
		msg := engine.CommandStatus(ce)
		if l := headLine(strings.TrimSpace(ce.Stderr)); l != "" {
			msg += ": " + l
		}
		return msg
	}
	return headLine(err.Error())
}

func headLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func answeredHosts(list []HostReleases) int {
	n := 0
	for _, hr := range list {
		if hr.Err == nil {
			n++
		}
	}
	return n
}

// disagreements lists where the hosts that answered differ: what current
// points at, which releases exist, their state and revision.
func disagreements(list []HostReleases) []string {
	var ok []HostReleases
	for _, hr := range list {
		if hr.Err == nil {
			ok = append(ok, hr)
		}
	}
	if len(ok) < 2 {
		return nil
	}
	var out []string
	if d := hostsDiffer(ok, func(hr HostReleases) string { return orDash(hr.Current) }); d != "" {
		out = append(out, "current: "+d)
	}
	names := map[string]bool{}
	for _, hr := range ok {
		for _, rel := range hr.Releases {
			names[rel.Name] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(sorted)))
	for _, name := range sorted {
		d := hostsDiffer(ok, func(hr HostReleases) string {
			for _, rel := range hr.Releases {
				if rel.Name == name {
					state := "finished"
					if rel.Unfinished {
						state = "unfinished"
					}
					if rel.Revision != "" {
						state += " at " + engine.ShortSHA(rel.Revision)
					}
					return state
				}
			}
			return "missing"
		})
		if d != "" {
			out = append(out, "release "+name+": "+d)
		}
	}
	return out
}

// differ returns "v1 on h1, h2; v2 on h3" when key differs between hosts,
// else "".
func hostsDiffer(list []HostReleases, key func(HostReleases) string) string {
	var order []string
	hosts := map[string][]string{}
	for _, hr := range list {
		k := key(hr)
		if _, seen := hosts[k]; !seen {
			order = append(order, k)
		}
		hosts[k] = append(hosts[k], hr.Host)
	}
	if len(order) < 2 {
		return ""
	}
	parts := make([]string, len(order))
	for i, k := range order {
		parts[i] = k + " on " + strings.Join(hosts[k], ", ")
	}
	return strings.Join(parts, "; ")
}
