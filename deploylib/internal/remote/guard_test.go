package remote

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/shell"
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

// posixShells returns the POSIX shells of this machine that the builtin
// helpers are run with: /bin/sh always, and dash, bash and busybox sh
// when installed.
func posixShells(t *testing.T) []string {
	t.Helper()
	shells := []string{"/bin/sh"}
	for _, name := range []string{"dash", "bash", "busybox", "mksh", "ksh", "zsh"} {
		if p, err := exec.LookPath(name); err == nil {
			if name == "busybox" {
				p += " sh"
			}
			shells = append(shells, p)
		}
	}
	return shells
}

// runIn runs script with shell sh (a path, maybe followed by an argument)
// and returns its standard output; it fails the test on a failure
// unless mayFail.
func runIn(t *testing.T, sh, script string, mayFail bool) (string, bool) {
	t.Helper()
	args := append(strings.Fields(sh)[1:], "-c", script)
	out, err := exec.Command(strings.Fields(sh)[0], args...).Output()
	if err != nil && !mayFail {
		t.Fatalf("%s -c %s: %v\n%s", sh, script, err, out)
	}
	return string(out), err == nil
}

// TestBuiltinsDoWhatTheCommandsDo checks listNames against ls -1 and
// hasLine against grep -qxF, with every POSIX shell of this machine, on
// files and directories that are missing, empty, odd or ordinary.
func TestBuiltinsDoWhatTheCommandsDo(t *testing.T) {
	dir := t.TempDir()
	full, empty, file := filepath.Join(dir, "full"), filepath.Join(dir, "empty"), filepath.Join(dir, "file")
	os.MkdirAll(filepath.Join(full, "20261206101500"), 0o755)
	os.MkdirAll(filepath.Join(full, "20250101000000"), 0o755)
	os.MkdirAll(filepath.Join(full, ".hidden"), 0o755)
	os.WriteFile(filepath.Join(full, "a file"), nil, 0o644)
	os.WriteFile(filepath.Join(full, "*"), nil, 0o644)
	os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(full, "dangling"))
	os.MkdirAll(empty, 0o755)
	os.WriteFile(file, []byte("run_id=abc\nuser=me\nlast=no-newline"), 0o644)
	odd := filepath.Join(dir, "it's [odd] *")
	os.MkdirAll(filepath.Join(odd, "x"), 0o755)

	for _, sh := range posixShells(t) {
		for _, d := range []string{full, empty, file, odd, filepath.Join(dir, "none")} {
			want, _ := runIn(t, sh, "LC_ALL=C ls -1 "+shell.Quote(d)+" 2>/dev/null; true", false)
			if d == file {
				want = "" // ls names the file itself; no names are in it
			}
			got, _ := runIn(t, sh, "LC_ALL=C; export LC_ALL; "+listNames(d).String(), false)
			if got != want {
				t.Errorf("%s: listNames(%s) printed %q, ls -1 %q", sh, d, got, want)
			}
		}
		for _, tc := range []struct {
			file, line string
			want       bool
		}{
			{file, "run_id=abc", true},
			{file, "user=me", true},
			{file, "last=no-newline", true},
			{file, "run_id=ab", false},
			{file, "run_id=abc\nuser=me", false},
			{file, "", false},
			{filepath.Join(dir, "none"), "run_id=abc", false},
			{full, "run_id=abc", false},
		} {
			out, ok := runIn(t, sh, HasLine(tc.file, tc.line).String(), true)
			if ok != tc.want || out != "" {
				t.Errorf("%s: HasLine(%s, %q) = %v, output %q; want %v and no output", sh, tc.file, tc.line, ok, out, tc.want)
			}
		}
		details, heartbeat := filepath.Join(dir, "details"), filepath.Join(dir, "heartbeat")
		os.WriteFile(details, []byte("run_id=abc\n"), 0o644)
		runIn(t, sh, lockTimes(details, heartbeat).String(), false)
		d, _ := os.ReadFile(details)
		h, _ := os.ReadFile(heartbeat)
		if !regexp.MustCompile(`^run_id=abc\nlocked_at=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$`).Match(d) ||
			!regexp.MustCompile(`^heartbeat=\d+\n$`).Match(h) {
			t.Errorf("%s: lockTimes wrote details %q, heartbeat %q", sh, d, h)
		}
	}
}
