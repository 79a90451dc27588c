package remote

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGuardsDoWhatTheBareCommandsDo runs removeIfPresent and ensureDirs
// with a real /bin/sh on this machine, with an rm and a mkdir on PATH that
// log their calls: the paths end as rm -rf and mkdir -p would leave them,
// and the commands start only when there is something to do.
func TestGuardsDoWhatTheBareCommandsDo(t *testing.T) {
	bin := t.TempDir()
	calls := filepath.Join(t.TempDir(), "calls")
	for _, name := range []string{"rm", "mkdir"} {
		real, err := exec.LookPath(name)
		if err != nil {
			t.Fatal(err)
		}
		shim := "#!/bin/sh\necho " + name + " >> '" + calls + "'\nexec " + real + " \"$@\"\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(shim), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := func(c interface{ String() string }) string {
		t.Helper()
		os.Remove(calls)
		sh := exec.Command("/bin/sh", "-c", c.String())
		sh.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		if out, err := sh.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", c, err, out)
		}
		b, _ := os.ReadFile(calls)
		return strings.TrimSpace(string(b))
	}
	dir := t.TempDir()
	file, sub, dangling, none := filepath.Join(dir, "file"), filepath.Join(dir, "sub"), filepath.Join(dir, "dangling"), filepath.Join(dir, "none")
	os.WriteFile(file, nil, 0o644)
	os.MkdirAll(filepath.Join(sub, "deep"), 0o755)
	os.Symlink(filepath.Join(dir, "nowhere"), dangling)

	if got := run(removeIfPresent(none)); got != "" {
		t.Errorf("removeIfPresent of a missing path ran %q", got)
	}
	for _, p := range []string{file, sub, dangling} {
		if got := run(removeIfPresent(none, p)); got != "rm" {
			t.Errorf("removeIfPresent(%s) ran %q, want rm", p, got)
		}
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there: %v", p, err)
		}
	}
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b", "c")
	if got := run(ensureDirs(a, b)); got != "mkdir" {
		t.Errorf("ensureDirs of missing dirs ran %q, want mkdir", got)
	}
	for _, d := range []string{a, b} {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("%s is not a directory: %v", d, err)
		}
	}
	if got := run(ensureDirs(a, b)); got != "" {
		t.Errorf("ensureDirs of existing dirs ran %q", got)
	}
}
