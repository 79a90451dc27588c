//go:build unix

package invariant

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// Violation is one broken invariant.
type Violation struct {
	Invariant string // the short name, as listed in doc.go
	Host      string // "" when it concerns the run, not a host
	Detail    string
}

func (v Violation) String() string {
	if v.Host == "" {
		return fmt.Sprintf("[%s] %s", v.Invariant, v.Detail)
	}
	return fmt.Sprintf("[%s] %s: %s", v.Invariant, v.Host, v.Detail)
}

// checker collects the violations of one operation.
type checker struct{ vs []Violation }

func (c *checker) add(inv, host, format string, args ...any) {
	c.vs = append(c.vs, Violation{Invariant: inv, Host: host, Detail: fmt.Sprintf(format, args...)})
}

var (
	deployLine   = regexp.MustCompile(`^Branch (.+) \(at ([0-9a-f]{40})\) deployed as release ([0-9]{14}) by (\S+)$`)
	rollbackLine = regexp.MustCompile(`^(\S+) rolled back to release ([0-9]{14})$`)
)

// finished returns the 14-digit releases of v that are complete (a
// directory with REVISION, no unfinished marker), oldest first.
func finished(v hostView) []string {
	var out []string
	for name, r := range v.Releases {
		if releaseName.MatchString(name) && r.Dir && r.Revision != "" && v.Unfinished[name] == "" {
			if _, marked := v.Unfinished[name]; !marked {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// currentName returns the release name current points at ("" if none, or
// the base name of whatever it points at).
func currentName(v hostView, deployTo string) string {
	if v.Current == "" {
		return ""
	}
	if path.Dir(v.Current) != path.Join(deployTo, "releases") {
		return "?" + v.Current
	}
	return path.Base(v.Current)
}

// checkState checks the invariants of the hosts' state after an operation
// with no run alive. before is the state before the operation, base the
// state right after the lab was prepared; ok says whether the operation
// succeeded, flow what it was ("deploy", "deploy:cleanup", ...) and
// newRelease the release it made, if any.
func (w *world) checkState(c *checker, before, after []hostView, base []hostView, ok bool, flow, newRelease string) {
	deployTo := w.sc.DeployTo
	var live []hostView
	for i, v := range after {
		dead := w.dead[i]
		if !dead {
			live = append(live, v)
		}
		// current: absent, or a symlink to a complete release.
		switch {
		case v.CurrentBad != "":
			c.add("current-complete", v.Name, "current is not a symlink (%s)", v.CurrentBad)
		case v.Current == "":
		case w.manual != "" && v.Current == path.Join(deployTo, "releases", w.manual):
		default:
			name := path.Base(v.Current)
			r, exists := v.Releases[name]
			_, marked := v.Unfinished[name]
			switch {
			case path.Dir(v.Current) != path.Join(deployTo, "releases") || !releaseName.MatchString(name):
				c.add("current-complete", v.Name, "current -> %q, which is not %s/releases/<14 digits>", v.Current, deployTo)
			case !exists || !r.Dir:
				c.add("current-complete", v.Name, "current -> %s, which does not exist or is not a directory", v.Current)
			case r.Revision == "":
				c.add("current-complete", v.Name, "current -> %s, which has no REVISION", v.Current)
			case r.Revision != w.sha+"\n":
				c.add("current-complete", v.Name, "current release %s has REVISION %q, want %s", name, r.Revision, w.sha)
			case marked && !dead:
				c.add("current-complete", v.Name, "current release %s is marked unfinished (%q)", name, v.Unfinished[name])
			default:
				if diff := w.contentDiff(w.l.Hosts[i], name); diff != "" {
					c.add("release-content", v.Name, "current release %s does not hold the source: %s", name, diff)
				}
			}
		}
		// The team's files (shared/, junk in releases/) are intact.
		for _, rel := range sortedKeys(v.Team) {
			if p := v.Team[rel]; p != "" {
				c.add("shared-intact", v.Name, "the team's %s: %s", rel, p)
			}
		}
		// Nothing outside deploy_to changed.
		for _, p := range sortedKeys(base[i].Outside) {
			if got, ok := v.Outside[p]; !ok {
				c.add("outside-intact", v.Name, "%s (outside deploy_to) was removed", p)
			} else if got != base[i].Outside[p] {
				c.add("outside-intact", v.Name, "%s (outside deploy_to) changed: %s, was %s", p, got, base[i].Outside[p])
			}
		}
		for _, p := range sortedKeys(v.Outside) {
			if _, ok := base[i].Outside[p]; !ok {
				c.add("outside-intact", v.Name, "%s appeared outside deploy_to (%s)", p, v.Outside[p])
			}
		}
		// revisions.log: Capistrano's lines only, appended to.
		if v.RevLog != "" {
			for n, line := range strings.Split(strings.TrimSuffix(v.RevLog, "\n"), "\n") {
				if m := deployLine.FindStringSubmatch(line); m != nil {
					if m[1] != w.sc.Branch || m[2] != w.sha || m[4] != "alice" {
						c.add("revisions-log", v.Name, "line %d names the wrong branch, commit or user: %q", n+1, line)
					}
				} else if !rollbackLine.MatchString(line) {
					c.add("revisions-log", v.Name, "line %d is not one of Capistrano's formats: %q", n+1, line)
				}
			}
			if !strings.HasSuffix(v.RevLog, "\n") {
				c.add("revisions-log", v.Name, "the last line has no newline")
			}
		}
		if b := before[i].RevLog; !strings.HasPrefix(v.RevLog, b) {
			c.add("revisions-log", v.Name, "revisions.log was rewritten, not appended to: was %q, now %q", b, v.RevLog)
		}
		// releases/ holds releases and the team's own entries only.
		for _, name := range sortedKeys(v.Releases) {
			r := v.Releases[name]
			switch {
			case w.teamRelease(name):
			case !releaseName.MatchString(name):
				c.add("releases", v.Name, "releases/%s appeared (%s), not a release name", name, kind(r))
			case !r.Dir:
				c.add("releases", v.Name, "releases/%s is a %s, not a directory", name, kind(r))
			}
		}
		if dead {
			continue
		}
		// No run is alive: no lock, no leftovers, no unfinished release.
		if v.Locked {
			c.add("no-stale-lock", v.Name, "the deploy lock is left with no run alive: %q", v.Lock)
		}
		for _, l := range v.Leftovers {
			c.add("no-leftovers", v.Name, "%s is left with no run alive", l)
		}
		// The releases the model keeps unpublished (a lone task's, a
		// removal that could not finish) must stay marked; no other.
		for _, name := range sortedKeys(v.Unfinished) {
			if w.unpublished[name] == "" {
				c.add("no-unfinished", v.Name, "release %s is marked unfinished (by run %q) with no run alive", name, v.Unfinished[name])
			}
		}
		for _, name := range sortedKeys(v.Releases) {
			r := v.Releases[name]
			_, marked := v.Unfinished[name]
			switch why := w.unpublished[name]; {
			case !releaseName.MatchString(name) || !r.Dir:
			case why != "" && !marked:
				c.add("no-unfinished", v.Name, "release %s (%s) is not marked unfinished: it counts as a finished release", name, why)
			case r.Revision == "" && why != stuck:
				c.add("no-unfinished", v.Name, "release %s has no REVISION (half-built) with no run alive", name)
			}
		}
		// At most keep_releases finished releases (plus current, when a
		// rollback left it older than those kept), never more than before.
		fin := finished(v)
		limit := w.sc.KeepReleases
		if cur := currentName(v, deployTo); cur != "" && !slices.Contains(fin[max(0, len(fin)-limit):], cur) && slices.Contains(fin, cur) {
			limit++
		}
		if n := len(finished(before[i])); n > limit {
			limit = n
		}
		switch {
		case flow == "deploy" && ok:
			limit = w.sc.KeepReleases
		case !ok && newRelease != "" && v.Current == path.Join(deployTo, "releases", newRelease) && before[i].Current != v.Current:
			// A run that failed or was interrupted after publishing keeps
			// its release live; its cleanup may not have run.
			limit++
		}
		if len(fin) > limit {
			c.add("keep-releases", v.Name, "%d finished releases %v, at most %d expected (keep_releases %d)", len(fin), fin, limit, w.sc.KeepReleases)
		}
	}
	// After an operation, the hosts that can be reached agree.
	for _, v := range live[min(1, len(live)):] {
		if v.Current != live[0].Current {
			c.add("hosts-agree", "", "%s serves %q, %s serves %q", live[0].Name, live[0].Current, v.Name, v.Current)
		}
	}
	for _, p := range localCanaries() {
		c.add("outside-intact", "local", "%s exists: a hostile name was run as code", p)
	}
}

func kind(r releaseView) string {
	switch {
	case r.Symlink:
		return "symlink"
	case r.Dir:
		return "directory"
	}
	return "file"
}

// teamRelease reports whether releases/name is the team's own.
func (w *world) teamRelease(name string) bool {
	if name == w.manual {
		return true
	}
	if w.sc.Junk {
		switch name {
		case "20261125214038.bak", "new", "a b", "evil":
			return true
		}
	}
	return false
}

// contentDiff compares release name on h with what the source holds,
// linked paths turned into symlinks into shared/ (REVISION and
// REVISION_TIME aside). It returns "" when they match.
func (w *world) contentDiff(h *lab.Host, name string) string {
	got := tree(w.app(h, "releases/"+name))
	delete(got, "REVISION")
	delete(got, "REVISION_TIME")
	want := w.expectedTree()
	var diffs []string
	for _, p := range sortedKeys(want) {
		if g, ok := got[p]; !ok {
			diffs = append(diffs, p+" missing")
		} else if g != want[p] {
			diffs = append(diffs, fmt.Sprintf("%s is %s, want %s", p, g, want[p]))
		}
	}
	for _, p := range sortedKeys(got) {
		if _, ok := want[p]; !ok && !w.underUnknown(p) {
			diffs = append(diffs, p+" unexpected ("+got[p]+")")
		}
	}
	if len(diffs) > 6 {
		diffs = append(diffs[:6], fmt.Sprintf("and %d more", len(diffs)-6))
	}
	return strings.Join(diffs, "; ")
}

// expectedTree is what a release of the scenario holds: the source's
// entries (none for an empty upload), then each linked path (outside
// another linked path, and not below a committed symlink) replaced by a
// symlink to deploy_to/shared/<path>.
func (w *world) expectedTree() map[string]string {
	want := map[string]string{}
	if w.sc.Strategy != UploadEmpty {
		add := func(p, digest string) {
			want[p] = digest
			for d := path.Dir(p); d != "."; d = path.Dir(d) {
				want[d] = "dir"
			}
		}
		for p, content := range w.sc.Files {
			sum := sha256.Sum256([]byte(content))
			add(p, "file "+hex.EncodeToString(sum[:8]))
		}
		for p, target := range w.sc.Symlinks {
			add(p, "symlink "+target)
		}
	}
	for _, p := range w.linkedPaths() {
		for k := range want {
			if k == p || strings.HasPrefix(k, p+"/") {
				delete(want, k)
			}
		}
		want[p] = "symlink " + path.Join(w.sc.DeployTo, "shared", p)
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			want[d] = "dir"
		}
	}
	return want
}

// linkedPaths are the linked files and dirs whose symlink the release
// must hold: not inside another linked path, not below a committed
// symlink (those are checked by the shared and outside invariants).
func (w *world) linkedPaths() []string {
	all := append(slices.Clone(w.sc.LinkedFiles), w.sc.LinkedDirs...)
	var out []string
	for _, p := range all {
		if w.underUnknown(p) {
			continue
		}
		nested := false
		for _, q := range all {
			if q != p && strings.HasPrefix(p, q+"/") {
				nested = true
			}
		}
		if !nested && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// underUnknown reports whether p lies below a committed symlink, where the
// release's content is outside the release.
func (w *world) underUnknown(p string) bool {
	if w.sc.Strategy == UploadEmpty {
		return false // the release has none of the repository's symlinks
	}
	for s := range w.sc.Symlinks {
		if strings.HasPrefix(p, s+"/") {
			return true
		}
	}
	return false
}

// Why a release may stay unpublished, marked unfinished, with no run alive
// (world.unpublished): DESIGN §3.4 marks a release that never reached
// publishing unfinished; cleanup never counts it, rollback never targets it,
// and the next successful cleanup removes it.
const (
	// parked: deploy:updating run on its own (mage <stage> task
	// deploy:updating) built it, complete, and nothing published it.
	parked = "built by a task run on its own, never published"
	// stuck: a cleanup could not remove it whole (a file it may not
	// remove); what is left must not count as a finished release.
	stuck = "half-removed by a cleanup that could not finish"
	// cutShort: the run failed and deploy:failed could not finish removing
	// the release it built (its command hung past the cleanup budget, as a
	// pause at a signal point does); the release stays marked.
	cutShort = "its run's deploy:failed could not finish removing it"
)

// failedCleanupCutShort reports whether a run of res failed and its
// deploy:failed could not finish its own commands.
func failedCleanupCutShort(res result) bool {
	for _, r := range res.runs {
		const mark = "while handling the failure: deploy:failed"
		if r.status != 0 && (strings.Contains(r.out, mark) || r.err != nil && strings.Contains(r.err.Error(), mark)) {
			return true
		}
	}
	return false
}

// releaseTasks are the standard tasks that, run on their own, build a
// release (the others that would need one refuse, having none).
var releaseTasks = []string{"deploy:updating"}

// checkUnpublished checks the releases a run leaves unpublished: a lone
// task that built one leaves it complete and marked unfinished, never
// current; a run that cleaned up removed every one left before. It then
// forgets those gone from every live host.
func (w *world) checkUnpublished(c *checker, op Op, res result, after []hostView) {
	if w.unpublished == nil {
		w.unpublished = map[string]string{}
	}
	if op.Kind == OpTask && slices.Contains(releaseTasks, op.Task) && ok(res) && res.release != "" {
		name := res.release
		for i, v := range after {
			if w.dead[i] {
				continue
			}
			r, exists := v.Releases[name]
			_, marked := v.Unfinished[name]
			switch {
			case !exists || !r.Dir:
				c.add("unpublished", v.Name, "%s succeeded, but its release %s is not there", op.Task, name)
			case !marked:
				c.add("unpublished", v.Name, "%s built release %s and did not publish it, but it is not marked unfinished: cleanup would count it, rollback could target it", op.Task, name)
			case r.Revision != w.sha+"\n":
				c.add("unpublished", v.Name, "%s succeeded, but its release %s has REVISION %q, want %s", op.Task, name, r.Revision, w.sha)
			case currentName(v, w.sc.DeployTo) == name:
				c.add("unpublished", v.Name, "%s published its release %s", op.Task, name)
			default:
				if diff := w.contentDiff(w.l.Hosts[i], name); diff != "" {
					c.add("release-content", v.Name, "release %s built by %s does not hold the source: %s", name, op.Task, diff)
				}
			}
		}
		w.unpublished[name] = parked
	}
	if res.release != "" && failedCleanupCutShort(res) {
		for i, v := range after {
			if _, marked := v.Unfinished[res.release]; marked && !w.dead[i] {
				w.unpublished[res.release] = cutShort
			}
		}
	}
	if cleanedUp(res) {
		for _, name := range sortedKeys(w.unpublished) {
			for i, v := range after {
				if _, exists := v.Releases[name]; exists && !w.dead[i] {
					c.add("unpublished", v.Name, "release %s (%s) survived a successful cleanup, which never keeps an unfinished release", name, w.unpublished[name])
				}
			}
		}
	}
	for name := range w.unpublished {
		gone := true
		for i, v := range after {
			if _, exists := v.Releases[name]; exists && !w.dead[i] {
				gone = false
			}
		}
		if gone {
			delete(w.unpublished, name)
		}
	}
}

// cleanedUp reports whether a run of res ran deploy:cleanup to its end:
// a successful deploy, deploy:cleanup or deploy:finishing (what a run is
// may be followed by a note, as in "deploy (the holder)").
func cleanedUp(res result) bool {
	for _, r := range res.runs {
		what, _, _ := strings.Cut(r.what, " ")
		if !r.failed() && (what == "deploy" || what == "deploy:cleanup" || what == "deploy:finishing") {
			return true
		}
	}
	return false
}
