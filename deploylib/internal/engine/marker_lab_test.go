//go:build unix

package engine

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// A host's release script that dies after its shell created the release's
// unfinished marker and before it wrote the run's id into it (a signal,
// as an interrupted deploy stops the commands in flight, or a full disk)
// must leave no marker that deploy:failed cannot recognise as the run's:
// an empty one stayed, on a release name the next deploy of the same
// second uses again (seed 764713607 of the invariant suite). The marker is
// written whole or not at all. To end the shell exactly there, the fetch
// of host1's mirror (git:update, earlier in the same script) lowers the
// script shells' file size limit to 0: the marker's creation succeeds,
// its first byte kills the shell with SIGXFSZ.
func TestMarkerWrittenWholeOrNotAtAll(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 2})
	l.RequireSharedDeployTo(t)
	deployTo := l.Hosts[0].DeployTo
	d := isolate(t, Config{Application: "app", RepoURL: l.Repo, DeployTo: deployTo})
	deploy := labDeployAt(d, labStage(l))
	first := time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)
	if out, err := deploy(first); err != nil {
		t.Fatalf("first deploy: %v\n%s", err, out)
	}
	labCommit(t, l)
	setUploadPack(t, l.Hosts[0], deployTo,
		`p=$PPID; while [ "$p" -gt 1 ]; do case "$(ps -o args= -p "$p")" in *capstan-step:*) prlimit --pid "$p" --fsize=0;; esac; p=$(ps -o ppid= -p "$p" | tr -d ' '); done`)
	out, err := deploy(first.Add(2 * time.Second))
	if err == nil {
		t.Fatalf("the second deploy succeeded; its script on host1 was to die writing the marker\n%s", out)
	}

	want := remote.ReleaseNameAt(first)
	for _, h := range l.Hosts {
		local := filepath.Join(h.Root, filepath.Base(deployTo))
		names := func(dir string) []string {
			entries, err := os.ReadDir(filepath.Join(local, dir))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			var out []string
			for _, e := range entries {
				out = append(out, e.Name())
			}
			return out
		}
		if got := names(".capstan/unfinished"); len(got) > 0 {
			for _, m := range got {
				b, _ := os.ReadFile(filepath.Join(local, ".capstan/unfinished", m))
				t.Errorf("%s: unfinished marker %s (%q) left after deploy:failed", h.Name, m, b)
			}
		}
		if got := names(".capstan"); !slices.Equal(got, []string{"unfinished"}) {
			t.Errorf("%s: .capstan holds %q, want only the markers' directory", h.Name, got)
		}
		if got := names("releases"); !slices.Equal(got, []string{want}) {
			t.Errorf("%s: releases/ holds %q, want only %s", h.Name, got, want)
		}
		if link, err := os.Readlink(filepath.Join(local, "current")); err != nil || filepath.Base(link) != want {
			t.Errorf("%s: current -> %q (%v), want the first release %s", h.Name, link, err, want)
		}
	}
	if t.Failed() {
		t.Logf("second deploy: %v\n%s", err, out)
	}
}
