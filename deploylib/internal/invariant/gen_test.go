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

// Over the CI seeds the generator covers every kind of operation, every
// strategy and questionable configurations.
func TestGeneratorCoverage(t *testing.T) {
	kinds := map[OpKind]int{}
	strategies := map[Strategy]int{}
	risky := 0
	for seed := uint64(1); seed <= ciSeeds; seed++ {
		sc := Generate(seed)
		strategies[sc.Strategy]++
		if sc.Risk != "" {
			risky++
		}
		for _, op := range sc.Ops {
			kinds[op.Kind]++
		}
	}
	t.Logf("operations %v; strategies %v; %d risky of %d", kinds, strategies, risky, ciSeeds)
	for _, k := range []OpKind{OpDeploy, OpRollback, OpTask, OpSignal, OpHookFail} {
		if kinds[k] == 0 {
			t.Errorf("no %s operation in the CI seeds", k)
		}
	}
	if risky == 0 {
		t.Error("no questionable configuration in the CI seeds")
	}
}
