package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
)

// deploy:failed finishes a removal of old releases that a signal cut short
// behind the same fences as the removal: only while the run holds the lock
// and never on the release current points at. A removal refused by its
// fences (the lock taken over by another run after deploy:unlock, current
// moved) would otherwise be done anyway, unfenced: its touch leaves an
// empty marker, its rm -rf removes the release, on a release another run
// may serve.
func TestFinishedRemovalIsFenced(t *testing.T) {
	d := isolate(t, testConfig())
	listing := backend.Rule{Match: "ls -1 /srv/shop/releases", Reply: backend.Reply{Stdout: "20261120000000\n20261121000000\n20261122000000\n20261123000000\n20261124000000\n20261125214038\n20261125214042\n--capstan--\n--capstan--\n/srv/shop/releases/20261125214042\n--capstan--\n"}}
	removal := "rm -rf /srv/shop/releases/20261120000000"
	rec, out, err := hookedRunIO(t, d, testStage("web1"), Deploy, sigtermDuring(removal), append([]backend.Rule{listing}, gitRules...)...)
	var ie *InterruptedError
	if !errors.As(err, &ie) || ie.ExitStatus() != 143 {
		t.Fatalf("error = %v, want SIGTERM's 143\n%s", err, out)
	}
	var removals []string
	for _, c := range rec.Log() {
		if strings.Contains(c.Command, removal) {
			removals = append(removals, c.Command)
		}
	}
	// The cut-short removal is the hook's; the recorder saw its finish.
	if len(removals) != 1 {
		t.Fatalf("%d commands finished the removal of old releases, want 1:\n%s", len(removals), transcript(rec))
	}
	finish := removals[0]
	touch := strings.Index(finish, "touch ")
	for _, fence := range []string{
		remote.HasLine("/srv/shop/.capstan/lock/details", "run_id=run0001").String(),
		"test '!' /srv/shop/releases/20261120000000 -ef /srv/shop/current",
	} {
		if i := strings.Index(finish, fence); i < 0 || i > touch {
			t.Errorf("the finish of the cut-short removal does not run behind %q:\n%s", fence, finish)
		}
	}
}
