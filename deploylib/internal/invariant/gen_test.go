//go:build unix

package invariant

import (
	"reflect"
	"testing"
)

// The same seed gives the same scenario, so that a printed seed replays.
func TestGenerateIsReproducible(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		if a, b := Generate(seed), Generate(seed); !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: two scenarios:\n%v\n%v", seed, a, b)
		}
	}
}

// The CI seeds cover every kind of operation (and every variant of the
// newer ones), every strategy and every questionable configuration.
func TestCISeedsCoverEverything(t *testing.T) {
	got := map[string]bool{}
	list := CISeeds(ciSeeds)
	for _, seed := range list {
		for _, f := range Generate(seed).Features() {
			got[f] = true
		}
	}
	t.Logf("CI seeds %v", list)
	var want []string
	for _, k := range []OpKind{OpDeploy, OpRollback, OpTask, OpUnlock, OpTwo, OpSignal, OpHookFail, OpHostLost, OpManual,
		OpForeignUnlock, OpHostileLock, OpSecretLine, OpFarFuture, OpStuckRemoval} {
		want = append(want, "op "+string(k))
	}
	for _, s := range []Strategy{GitStrategy, GitShallow, UploadArchive, UploadDir, UploadEmpty, UploadSymlink} {
		want = append(want, "strategy "+string(s))
	}
	for _, r := range risks {
		want = append(want, "risk "+r)
	}
	for kind, variants := range map[OpKind][]string{
		OpForeignUnlock: {"pid-namespace", "machine"},
		OpHostileLock:   {"shared", "releases", "outside", "shell"},
		OpFarFuture:     {"all", "one"},
		OpStuckRemoval:  {"immutable", "root-owned"},
		OpSecretLine:    {"failing"},
	} {
		for _, v := range variants {
			want = append(want, "op "+string(kind)+" "+v)
		}
	}
	for _, f := range want {
		if !got[f] {
			t.Errorf("no CI seed exercises %s", f)
		}
	}
}

// A regression seed still generates the operation that once broke an
// invariant: the generator may learn new operations, but not by changing
// what an old seed plays.
func TestRegressionSeedsReplayTheirFinding(t *testing.T) {
	for _, r := range RegressionSeeds {
		var ops []string
		found := false
		for _, op := range Generate(r.Seed).Ops {
			ops = append(ops, op.String())
			found = found || op.String() == r.Op
		}
		if !found {
			t.Errorf("seed %d no longer generates %q (%s); it plays %q", r.Seed, r.Op, r.Why, ops)
		}
	}
}
