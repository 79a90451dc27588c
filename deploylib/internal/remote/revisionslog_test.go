package remote

import (
	"fmt"
	"os"
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

// TestAppendLogWritesTheLineAsIs: every POSIX shell appends the line byte
// for byte, backslashes included, after a newline when the log's last line
// was cut short.
func TestAppendLogWritesTheLineAsIs(t *testing.T) {
	line := DeployLogLine("main", "0123456789abcdef0123456789abcdef01234567", "20261206120000", `DOMAIN\alice\c \n %s`)
	for _, sh := range posixShells(t) {
		dir := t.TempDir()
		l := Layout{DeployTo: dir}
		if err := os.MkdirAll(l.Releases(), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(l.RevisionsLog(), []byte("cut short"), 0o644); err != nil {
			t.Fatal(err)
		}
		runIn(t, sh, l.AppendLog(line).String(), false)
		got, err := os.ReadFile(l.RevisionsLog())
		if want := "cut short\n" + line + "\n"; err != nil || string(got) != want {
			t.Errorf("%s: revisions.log is %q, %v; want %q", sh, got, err, want)
		}
	}
}
