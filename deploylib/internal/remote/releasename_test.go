package remote

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"strings"
	"testing"
)

// TestNamesFromMatchesExactlyTheLaterNames checks namesFrom's patterns
// against the string order it stands for, on names that differ from the
// checked one in one digit or in many.
func TestNamesFromMatchesExactlyTheLaterNames(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randomName := func() string {
		var b strings.Builder
		for range 14 {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		return b.String()
	}
	for _, name := range []string{"20261206101500", "00000000000000", "99999999999999", "20261206101599", "19991231235959", randomName()} {
		patterns, err := namesFrom(name)
		if err != nil {
			t.Fatal(err)
		}
		matches := func(s string) bool {
			for _, p := range patterns {
				if ok, err := path.Match(p, s); err != nil {
					t.Fatalf("pattern %q: %v", p, err)
				} else if ok {
					return true
				}
			}
			return false
		}
		others := []string{name, ReleaseNameAfter(name), randomName(), randomName()}
		for i := range 14 {
			for d := byte('0'); d <= '9'; d++ {
				others = append(others, name[:i]+string(d)+name[i+1:])
			}
		}
		for _, other := range others {
			if got, want := matches(other), other >= name; got != want {
				t.Errorf("namesFrom(%s) matches %s: %v, want %v", name, other, got, want)
			}
		}
		for _, notName := range []string{name + "0", name[1:], "current", ""} {
			if matches(notName) {
				t.Errorf("namesFrom(%s) matches %q, which is no release name", name, notName)
			}
		}
	}
	if _, err := namesFrom("2026120610150"); err == nil {
		t.Error("namesFrom accepted 13 digits")
	}
}

// TestCheckReleaseName runs the check with each POSIX shell of this
// machine on a directory of it.
func TestCheckReleaseName(t *testing.T) {
	const name = "20261206101500"
	for _, tc := range []struct {
		have  []string
		taken bool
	}{
		{nil, false},
		{[]string{"*"}, false},
		{[]string{"20261206101459", "20250101000000", "not-a-release", "current"}, false},
		{[]string{"20261206101459", name}, true},
		{[]string{"20261206101501"}, true},
		{[]string{"99999999999999"}, true},
		{[]string{"202612061015000"}, false}, // 15 digits: no release
	} {
		l := At(t.TempDir())
		for _, n := range tc.have {
			if err := os.MkdirAll(l.Release(n), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		cmd, err := l.CheckReleaseName(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, sh := range posixShells(t) {
			out, err := exec.Command(sh, "-c", cmd.String()).CombinedOutput()
			if err != nil {
				t.Fatalf("%s, %v: %v\n%s", sh, tc.have, err, out)
			}
			if got := strings.TrimSpace(string(out)) == ReleaseNameTaken; got != tc.taken {
				t.Errorf("%s, releases %v: taken %v (output %q), want %v", sh, tc.have, got, out, tc.taken)
			}
		}
	}
	// No releases/ at all: nothing is taken.
	cmd, err := At(path.Join(t.TempDir(), "none")).CheckReleaseName(name)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("/bin/sh", "-c", cmd.String()).CombinedOutput(); err != nil || len(out) != 0 {
		t.Errorf("no releases/: %v, output %q", err, out)
	}
}
