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
