package remote

import (
	"fmt"
	"testing"
)

func TestParseRevisionsLog(t *testing.T) {
	log := "Branch main (at 0123456789abcdef0123456789abcdef01234567) deployed as release 20261125214038 by alice\n" +
		"bob rolled back to release 20261125214038\n" +
		"Deployed v1.2 as 20261125214042 (custom message)\n" +
		"garbage\n\n"
	got := ParseRevisionsLog(log)
	want := []LogEntry{
		{Release: "20261125214038", User: "alice", Branch: "main", SHA: "0123456789abcdef0123456789abcdef01234567"},
		{Release: "20261125214038", User: "bob", Rollback: true},
		{Release: "20261125214042"},
		{},
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		want[i].Line = got[i].Line
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func ExampleParseRevisionsLog() {
	log := `Branch main (at 0123456789abcdef0123456789abcdef01234567) deployed as release 20261125214038 by alice
alice rolled back to release 20261125214038
`
	for _, e := range ParseRevisionsLog(log) {
		fmt.Printf("%s by %s, rollback %v\n", e.Release, e.User, e.Rollback)
	}
	// Output:
	// 20261125214038 by alice, rollback false
	// 20261125214038 by alice, rollback true
}
