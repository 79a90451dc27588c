package remote

import (
	"path"
	"slices"
	"strings"
	"testing"
)

// The parsers of what a server answers get any bytes a hostile or broken
// server may print. They must not panic, and every value they return
// that reaches a command or a path must match its grammar (a release
// name) or be refused with an error. Run one with, for example:
//
//	go test -run '^$' -fuzz '^FuzzParseListing$' -fuzztime 60s ./deploylib/internal/remote
//
// Seeds are added here and kept in testdata/fuzz/FuzzX/.

const fuzzDeployTo = "/srv/app"

// checkListing checks what deploy:cleanup and deploy:rollback take from a
// listing: release names, sorted, and removal commands that touch only
// releases and their markers.
func checkListing(t *testing.T, li Listing) {
	t.Helper()
	l := At(fuzzDeployTo)
	if !slices.IsSorted(li.Releases) {
		t.Errorf("releases not sorted: %q", li.Releases)
	}
	for _, r := range li.Releases {
		if !IsReleaseName(r) {
			t.Errorf("release %q is not a release name", r)
		}
	}
	for _, m := range []map[string]bool{li.Unfinished, li.Complete} {
		for r := range m {
			if !IsReleaseName(r) {
				t.Errorf("%q is not a release name", r)
			}
		}
	}
	if c := li.Current; c != "" && (strings.Contains(c, "/") || c == "." || c == ".." || path.Join(l.Releases(), c) != l.Release(c) || path.Dir(l.Release(c)) != l.Releases()) {
		t.Errorf("current %q is not one entry of releases/", c)
	}
	for _, keep := range []int{0, 1, 5} {
		victims := li.CleanupCandidates(keep, "")
		for _, v := range victims {
			if !IsReleaseName(v) || v == li.Current {
				t.Errorf("cleanup would remove %q (current %q)", v, li.Current)
			}
		}
		if len(victims) == 0 {
			continue
		}
		cmd, err := l.RemoveReleases(victims)
		if err != nil {
			t.Errorf("RemoveReleases(%q): %v", victims, err)
			continue
		}
		for _, arg := range strings.Fields(cmd.String()) {
			if strings.HasPrefix(arg, "/") && !strings.HasPrefix(arg, l.Releases()+"/") && !strings.HasPrefix(arg, l.Unfinished()) {
				t.Errorf("the removal touches %q: %s", arg, cmd)
			}
		}
	}
	if n := len(li.Releases); n > 0 {
		newest := li.Releases[n-1]
		if HasReleaseNameAfter(newest) {
			if next := ReleaseNameAfter(newest); next <= newest {
				t.Errorf("ReleaseNameAfter(%q) = %q does not sort after it", newest, next)
			}
		} else if newest != "99999999999999" {
			t.Errorf("no release name after %q", newest)
		}
	}
}

func FuzzParseLockTaken(f *testing.F) {
	f.Add("\n/srv/app/releases/20261125214038\n20261125214038\n20261125214042\nnot-a-release\ncapstan-lock-unfinished\n20261125214042\n")
	f.Add("\n\ncapstan-lock-unfinished\n")
	f.Add("\n../../etc\n99999999999999\n20261125214038/../x\ncapstan-lock-unfinished\n99999999999999\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, out string) {
		info := ParseLockTaken(out)
		for _, u := range info.Unfinished {
			if !IsReleaseName(u) {
				t.Errorf("unfinished %q is not a release name", u)
			}
		}
		checkListing(t, At(fuzzDeployTo).LockListing(info))
	})
}

func FuzzParseListing(f *testing.F) {
	f.Add("20261125214038\n20261125214042\nhotfix\n--capstan--\n20261125214042\n--capstan--\n/srv/app/releases/20261125214038\n--capstan--\n/srv/app/releases/20261125214038/REVISION\n")
	f.Add("--capstan--\n--capstan--\n--capstan--\n")
	f.Add("99999999999999\n--capstan--\n--capstan--\nreleases/../../etc\n--capstan--\n/srv/app/releases/x/../20261125214038/REVISION\n")
	f.Add("99991231235959\n20261125214038\n--capstan--\n--capstan--\n--capstan--\n")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, out string) {
		li, err := At(fuzzDeployTo).ParseListing(out)
		if err != nil {
			return
		}
		checkListing(t, li)
	})
}

func FuzzParseReleasesReport(f *testing.F) {
	f.Add("20261125214038\n--capstan--\n--capstan--\n/srv/app/releases/20261125214038\n--capstan--\n/srv/app/releases/20261125214038/REVISION\n--capstan-report--\n/srv/app/releases/20261125214038/REVISION:abc123\n/srv/app/releases/20261125214038/REVISION_TIME:1795640000\n--capstan-report--\nBranch main (at abc123) deployed as release 20261125214038 by alice\n")
	f.Add("--capstan--\n--capstan--\n--capstan--\n--capstan-report--\n--capstan-report--\n")
	f.Add("--capstan--\n--capstan--\n--capstan--\n--capstan-report--\n/srv/app/releases/../shared/REVISION:x\n/srv/app/releases/20261125214038/../REVISION:y\n--capstan-report--\n")
	f.Fuzz(func(t *testing.T, out string) {
		rep, err := At(fuzzDeployTo).ParseReleasesReport(out)
		if err != nil {
			return
		}
		checkListing(t, rep.Listing)
		for r := range rep.Revision {
			if !IsReleaseName(r) {
				t.Errorf("revision of %q, not a release name", r)
			}
		}
		checkLog(t, ParseRevisionsLog(rep.LogTail))
	})
}

// checkLog checks the entries of revisions.log: one line each, naming a
// release name or none.
func checkLog(t *testing.T, entries []LogEntry) {
	t.Helper()
	for _, e := range entries {
		if e.Release != "" && !IsReleaseName(e.Release) {
			t.Errorf("entry names release %q", e.Release)
		}
		if strings.Contains(e.Line, "\n") || strings.HasSuffix(e.Line, "\r") || strings.TrimSpace(e.Line) == "" {
			t.Errorf("entry line %q", e.Line)
		}
		if e.Branch != "" && strings.ContainsAny(e.Branch+e.SHA, " \t\n") {
			t.Errorf("deploy entry with branch %q, sha %q", e.Branch, e.SHA)
		}
	}
}

func FuzzParseRevisionsLog(f *testing.F) {
	f.Add("Branch main (at abc123) deployed as release 20261125214038 by alice\nalice rolled back to release 20261125214038\ncustom 20261125214042 line\n\n")
	f.Add("Branch a b (at x) deployed as release 2026112521403 by \r\n rolled back to release 99999999999999\r\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		checkLog(t, ParseRevisionsLog(text))
	})
}

func FuzzParseDoctorProbe(f *testing.F) {
	f.Add(probeUser + "\ndeploy\n" + probePaths + "\ne /srv/app\nd /srv/app\nw /srv/app\nL /srv/app/current\n" + probeDisk +
		"\nFilesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 264212084 12940396 82560868 14% /\n" +
		probeMissing + "\nconfig/secrets.yml\n" + probeGit + "\ngit version 2.43.0\n" + probeGitOK + "\nabc\trefs/heads/main\n")
	f.Add(probeDisk + "\n/dev/x 1 1 9223372036854775807 1% /mnt\n")
	f.Add(probeDisk + "\n/dev/x 1 1 -5 1% /mnt with space\n" + probeGit + "\n" + probeNoGit + "\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, out string) {
		facts := ParseDoctorProbe(out)
		if facts.Free < -1 {
			t.Errorf("free space %d", facts.Free)
		}
		if facts.Free >= 0 && facts.Mount == "" {
			t.Errorf("free space %d on no mount", facts.Free)
		}
		for p := range facts.Paths {
			if !path.IsAbs(p) || strings.Contains(p, "\n") {
				t.Errorf("path %q", p)
			}
		}
	})
}

// The release a switch back goes to was read from the server (where
// current pointed): only a release of releases/ has its unfinished
// marker removed; any other target names no marker.
func TestSwitchRemovesOnlyAReleaseMarker(t *testing.T) {
	l := At(fuzzDeployTo)
	for _, tc := range []struct {
		release, marker string
	}{
		{l.Release("20261125214038"), l.UnfinishedMarker("20261125214038")},
		{l.Releases() + "/./20261125214038", l.UnfinishedMarker("20261125214038")},
		{l.Release("hotfix"), ""},
		{l.Releases() + "/..", ""},
		{"/opt/elsewhere/20261125214038", ""},
		{l.Shared(), ""},
	} {
		cmd := l.Switch(tc.release, "r1").String()
		has := strings.Contains(cmd, "rm -f "+l.Unfinished())
		if tc.marker == "" && has || tc.marker != "" && !strings.HasSuffix(cmd, "rm -f "+tc.marker) {
			t.Errorf("Switch(%q) = %s, want marker %q removed", tc.release, cmd, tc.marker)
		}
	}
}

func TestHasReleaseNameAfter(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"20261125214038", true},
		{"99991231235959", true}, // year 10000 has 5 digits: counted up
		{"20261399000000", true}, // no valid time: counted up
		{"99999999999998", true},
		{"99999999999999", false},
	} {
		if got := HasReleaseNameAfter(tc.name); got != tc.want {
			t.Errorf("HasReleaseNameAfter(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSanitize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"x/../../shared", `"x/../../shared"`},
		{"a\nrun_id=b\x1b[2J", `"a\nrun_id=b\x1b[2J"`},
		{strings.Repeat("é", 81), `"` + strings.Repeat("é", 80) + `"...`},
		{"\xff", `"\xff"`},
	} {
		if got := Sanitize(tc.in); got != tc.want {
			t.Errorf("Sanitize(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
