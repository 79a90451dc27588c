package remote

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestArchiveReleaseKeepsMarkerUntilGone runs ArchiveRelease with a real
// /bin/sh on a directory of this machine. When rm -rf fails part way (here
// an rm on PATH that fails for -rf, as one that meets a file it may not
// remove or a signal would), the release rolled away from must stay marked
// unfinished, so that cleanup removes it again and rollback never targets
// it; when rm succeeds, release and marker are both gone.
func TestArchiveReleaseKeepsMarkerUntilGone(t *testing.T) {
	for _, tc := range []struct {
		name       string
		failingRm  bool
		wantMarker bool
	}{
		{"removed", false, false},
		{"removal fails", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deployTo := t.TempDir()
			l := At(deployTo)
			const rel = "20261125214042"
			if err := os.MkdirAll(filepath.Join(l.Release(rel), "app"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(l.Release(rel), "REVISION"), []byte("abc\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd, err := l.ArchiveRelease(rel)
			if err != nil {
				t.Fatal(err)
			}
			sh := exec.Command("/bin/sh", "-c", cmd.String())
			if tc.failingRm {
				bin := t.TempDir()
				shim := "#!/bin/sh\ncase \"$1\" in -rf) exit 1 ;; esac\nexec /bin/rm \"$@\"\n"
				if err := os.WriteFile(filepath.Join(bin, "rm"), []byte(shim), 0o755); err != nil {
					t.Fatal(err)
				}
				sh.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
			}
			out, err := sh.CombinedOutput()
			if (err != nil) != tc.failingRm {
				t.Fatalf("ArchiveRelease: err %v, want failure %v\n%s", err, tc.failingRm, out)
			}
			if _, err := os.Stat(filepath.Join(deployTo, "rolled-back-release-"+rel+".tar.gz")); err != nil {
				t.Errorf("no archive: %v", err)
			}
			_, err = os.Stat(l.UnfinishedMarker(rel))
			if hasMarker := err == nil; hasMarker != tc.wantMarker {
				t.Errorf("unfinished marker present: %v, want %v", hasMarker, tc.wantMarker)
			}
			if _, err := os.Stat(l.Release(rel)); (err == nil) != tc.failingRm {
				t.Errorf("release present: %v, want %v", err == nil, tc.failingRm)
			}
		})
	}
}
