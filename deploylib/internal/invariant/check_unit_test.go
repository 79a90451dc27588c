//go:build unix

package invariant

import (
	"slices"
	"strings"
	"testing"
)

// The checks, on states written by hand: each broken invariant is named,
// and a clean state passes.
func TestCheckStateNamesEachBrokenInvariant(t *testing.T) {
	sc := Scenario{DeployTo: "/srv/app", Branch: "main", KeepReleases: 2, Hosts: 2}
	w := &world{sc: sc, sha: strings.Repeat("a", 40), dead: map[int]bool{}}
	clean := func(name string) hostView {
		return hostView{
			Name:       name,
			Releases:   map[string]releaseView{},
			Unfinished: map[string]string{},
			Team:       map[string]string{"shared/config/secrets.yml": ""},
			Outside:    map[string]string{"/srv/outside/keep.txt": "file 01"},
			RevLog:     "Branch main (at " + w.sha + ") deployed as release 20261125214038 by alice\n",
		}
	}
	base := []hostView{clean("host1"), clean("host2")}

	var c checker
	w.checkState(&c, base, base, base, true, "deploy:check", "")
	if len(c.vs) > 0 {
		t.Fatalf("a clean state has violations: %v", c.vs)
	}

	broken := []hostView{clean("host1"), clean("host2")}
	h1, h2 := &broken[0], &broken[1]
	h1.Current = "/srv/app/current" // the known hole: current points at itself
	h2.Current = "/srv/app/releases/20261125214040"
	h2.Releases["20261125214040"] = releaseView{Dir: true, Revision: ""}
	h1.Locked, h1.Lock = true, ""
	h1.Leftovers = []string{".capstan/switch-1f2e3d4c"}
	h2.Unfinished["20261125214040"] = "1f2e3d4c"
	h1.Team["shared/config/secrets.yml"] = "missing (shared/config is gone)"
	h2.Outside = map[string]string{}
	h1.RevLog += "Branch  (at ) deployed as release  by alice\n"
	for i := range 3 {
		h1.Releases["2026112521404"+string(rune('1'+i))] = releaseView{Dir: true, Revision: w.sha + "\n"}
	}
	w.checkState(&c, base, broken, base, true, "deploy", "")
	var names []string
	for _, v := range c.vs {
		names = append(names, v.Invariant)
	}
	for _, want := range []string{"current-complete", "hosts-agree", "no-stale-lock", "no-leftovers", "no-unfinished",
		"shared-intact", "outside-intact", "revisions-log", "keep-releases"} {
		if !slices.Contains(names, want) {
			t.Errorf("no %s violation among %v", want, c.vs)
		}
	}
}

// The model of unpublished releases, on states written by hand: a release
// a lone deploy:updating built may stay marked unfinished, but not
// unmarked, and not past a successful cleanup; a half-removed one must be
// marked.
func TestUnpublishedReleases(t *testing.T) {
	sha := strings.Repeat("a", 40)
	const rel = "20261125214040"
	host := func(marked bool, revision string) []hostView {
		v := hostView{Name: "host1", Releases: map[string]releaseView{}, Unfinished: map[string]string{}}
		v.Releases[rel] = releaseView{Dir: true, Revision: revision}
		if marked {
			v.Unfinished[rel] = "1f2e3d4c"
		}
		return []hostView{v}
	}
	updating := Op{Kind: OpTask, Task: "deploy:updating"}
	tests := []struct {
		name        string
		known       string // what the model knew of rel before the operation
		op          Op
		runs        []runResult
		state       []hostView
		want        []string // invariants broken, in order
		stillKnown  bool
		checkStatus bool // run checkState too
	}{
		{name: "lone deploy:updating left it unmarked", op: updating, runs: []runResult{{what: "deploy:updating"}},
			state: host(false, sha+"\n"), want: []string{"unpublished", "no-unfinished"}, stillKnown: true, checkStatus: true},
		{name: "parked and marked, a rollback ran", known: parked, op: Op{Kind: OpRollback}, runs: []runResult{{what: "deploy:rollback"}},
			state: host(true, sha+"\n"), stillKnown: true, checkStatus: true},
		{name: "parked, a deploy succeeded", known: parked, op: Op{Kind: OpDeploy}, runs: []runResult{{what: "deploy"}},
			state: host(true, sha+"\n"), want: []string{"unpublished"}, stillKnown: true},
		{name: "parked, a deploy failed", known: parked, op: Op{Kind: OpDeploy}, runs: []runResult{{what: "deploy", status: 1}},
			state: host(true, sha+"\n"), stillKnown: true},
		{name: "parked, removed", known: parked, op: Op{Kind: OpDeploy}, runs: []runResult{{what: "deploy"}},
			state: []hostView{{Name: "host1", Releases: map[string]releaseView{}, Unfinished: map[string]string{}}}},
		{name: "half-removed, marked", known: stuck, op: Op{Kind: OpDeploy}, runs: []runResult{{what: "deploy", status: 1}},
			state: host(true, ""), stillKnown: true, checkStatus: true},
		{name: "half-removed, unmarked", known: stuck, op: Op{Kind: OpDeploy}, runs: []runResult{{what: "deploy", status: 1}},
			state: host(false, ""), want: []string{"no-unfinished"}, stillKnown: true, checkStatus: true},
		{name: "unknown and marked", op: Op{Kind: OpDeploy}, runs: []runResult{{what: "deploy", status: 1}},
			state: host(true, sha+"\n"), want: []string{"no-unfinished"}, checkStatus: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &world{sc: Scenario{DeployTo: "/srv/app", Branch: "main", KeepReleases: 3, Hosts: 1}, sha: sha,
				dead: map[int]bool{}, unpublished: map[string]string{}}
			if tt.known != "" {
				w.unpublished[rel] = tt.known
			}
			var c checker
			res := result{runs: tt.runs, release: rel}
			w.checkUnpublished(&c, tt.op, res, tt.state)
			if tt.checkStatus {
				w.checkState(&c, tt.state, tt.state, tt.state, ok(res), flowOf(tt.op), "")
			}
			var got []string
			for _, v := range c.vs {
				got = append(got, v.Invariant)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("violations %v, want %v", c.vs, tt.want)
			}
			if _, known := w.unpublished[rel]; known != tt.stillKnown {
				t.Errorf("the model knows %s afterwards: %v, want %v", rel, known, tt.stillKnown)
			}
		})
	}
}
