package script

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

func TestStepsString(t *testing.T) {
	c := Steps("run1-ab", Step{Cmd: shell.New("echo", "a b")}, Step{Cmd: shell.New("true").In("/tmp")})
	want := "echo 'a b'\n" +
		`capstan_s=$?; printf '\n%s%s %s %s\n' capstan-step: run1-ab 1 "$capstan_s"; printf '\n%s%s %s %s\n' capstan-step: run1-ab 1 "$capstan_s" >&2; [ "$capstan_s" -eq 0 ] || exit "$capstan_s"` + "\n" +
		"( cd /tmp && true )\n" +
		`capstan_s=$?; printf '\n%s%s %s %s\n' capstan-step: run1-ab 2 "$capstan_s"; printf '\n%s%s %s %s\n' capstan-step: run1-ab 2 "$capstan_s" >&2; [ "$capstan_s" -eq 0 ] || exit "$capstan_s"`
	if got := c.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(c.String(), "capstan-step:run1-ab") {
		t.Error("the script holds its own marker")
	}
	tok, cmds := List(c)
	if tok != "run1-ab" || len(cmds) != 2 || cmds[0].Cmd.String() != "echo 'a b'" {
		t.Errorf("StepList = %q, %v", tok, cmds)
	}
	if tok, cmds := List(shell.New("true")); tok != "" || cmds != nil {
		t.Errorf("StepList of a plain command = %q, %v", tok, cmds)
	}
}

// TestStepsRun runs scripts with /bin/sh: the markers follow each step's
// output on both streams, a step's cd stays in it, and the first failure
// ends the script with its status.
func TestStepsRun(t *testing.T) {
	c := Steps("t0k",
		Step{Cmd: shell.Raw("cd / && printf 'no newline'")},
		Step{Cmd: shell.New("pwd").And(shell.New("echo", "err").ToStderr())},
		Step{Cmd: shell.New("sh", "-c", "exit 3")},
		Step{Cmd: shell.New("echo", "never")},
	)
	cmd := exec.Command("/bin/sh", "-c", c.String())
	cmd.Dir = "/usr"
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("exit: %v, want status 3", err)
	}
	wantOut := "no newline" + Marker("t0k", 1, 0) + "/usr\n" + Marker("t0k", 2, 0) + Marker("t0k", 3, 3)
	if out.String() != wantOut {
		t.Errorf("stdout %q, want %q", out.String(), wantOut)
	}
	wantErr := Marker("t0k", 1, 0) + "err\n" + Marker("t0k", 2, 0) + Marker("t0k", 3, 3)
	if errb.String() != wantErr {
		t.Errorf("stderr %q, want %q", errb.String(), wantErr)
	}
}

// TestStepsGate: a gate that fails stops the script after its step, with
// status 0 and the marker of step 0; its step's output is kept whole.
func TestStepsGate(t *testing.T) {
	gate := Gate{NonEmpty: true, RejectLines: []string{"current-is-directory"}, RejectPrefixes: []string{"missing ."}}
	for _, tt := range []struct {
		name, out string
		passes    bool
	}{
		{"passes", "fine\nmissing x\n\n", true},
		{"empty", " \n\n", false},
		{"line", "a\ncurrent-is-directory\n", false},
		{"prefix, dot taken literally", "missing .env\n", false},
		{"no newline at the end", "ok", true},
	} {
		if got := gate.Passes(tt.out); got != tt.passes {
			t.Errorf("%s: Passes = %v", tt.name, got)
		}
		c := Steps("g", Step{Cmd: shell.New("printf", "%s", tt.out), Gate: gate}, Step{Cmd: shell.New("echo", "next")})
		out, err := exec.Command("/bin/sh", "-c", c.String()).Output()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		want := tt.out + Marker("g", 1, 0)
		if tt.passes {
			want += "next\n" + Marker("g", 2, 0)
		} else {
			want += Marker("g", 0, 0)
		}
		if string(out) != want {
			t.Errorf("%s: stdout %q, want %q", tt.name, out, want)
		}
	}
	// A gated step that fails fails the script, as any step does.
	c := Steps("g", Step{Cmd: shell.New("sh", "-c", "echo out; exit 4"), Gate: gate}, Step{Cmd: shell.New("echo", "next")})
	out, err := exec.Command("/bin/sh", "-c", c.String()).Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 4 || string(out) != "out\n"+Marker("g", 1, 4) {
		t.Errorf("failing gated step: %v %q", err, out)
	}
}

// TestKeptOutputReachesLaterSteps runs a script whose first step keeps
// its output: a later step reads it whole (last newlines included), a
// value the environment holds under the same name never counts, and the
// kept step's output and marker are what they would be unkept.
func TestKeptOutputReachesLaterSteps(t *testing.T) {
	c := Steps("k3p",
		Step{Cmd: shell.New("printf", `%s\n`, "abc\trefs/heads/main", "two words").In("/"), Keep: "capstan_ls"},
		Step{Cmd: shell.Raw(`printf '[%s]' "$capstan_ls"`)},
		Step{Cmd: shell.Raw(`printf '[%s]' "$capstan_other"`)},
	)
	cmd := exec.Command("/bin/sh", "-c", c.String())
	cmd.Env = []string{"PATH=/usr/bin:/bin", "capstan_ls=from-the-environment", "capstan_other=env"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "abc\trefs/heads/main\ntwo words\n" + Marker("k3p", 1, 0) +
		"[abc\trefs/heads/main\ntwo words\n]" + Marker("k3p", 2, 0) +
		"[env]" + Marker("k3p", 3, 0)
	if string(out) != want {
		t.Errorf("output\n%q\nwant\n%q", out, want)
	}
	// A kept step that did not run (the script stopped before it) leaves
	// the variable empty, not the environment's value.
	c = Steps("k3p",
		Step{Cmd: shell.New("false")},
		Step{Cmd: shell.New("echo", "kept"), Keep: "capstan_ls"},
	)
	if !strings.HasPrefix(c.String(), "capstan_ls=\n") {
		t.Errorf("the kept variable is not emptied first:\n%s", c)
	}
	for _, bad := range []string{"ls", "capstan_", "capstan_A", "capstan_x;rm", "capstan_x y"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Keep %q was accepted", bad)
				}
			}()
			Steps("k", Step{Cmd: shell.New("true"), Keep: bad})
		}()
	}
}

// TestStepsAwait runs scripts whose third step awaits a go-ahead with
// every POSIX shell installed: GoLine lets it go on; StopLine, another
// line or the end of the input stop it before the step (the marker of
// step 0, status 0); the read takes that one line and no byte more; no
// step reads the go-ahead by accident (standard input is /dev/null) and
// those before the awaiting step do not have fd 7 at all.
func TestStepsAwait(t *testing.T) {
	fd7 := shell.Raw(`if ( : <&7 ) 2>/dev/null; then echo has7; else echo no7; fi`)
	steps := func(first bool) []Step {
		return []Step{
			{Cmd: shell.New("cat")}, // reads /dev/null: prints nothing, waits for nothing
			{Cmd: fd7},
			{Cmd: fd7, Await: first},
			{Cmd: shell.New("echo", "after"), Await: !first},
		}
	}
	for _, sh := range shells(t) {
		for _, tt := range []struct {
			name, in string
			goes     bool
		}{
			{"go", GoLine("aw") + "\nREST\n", true},
			{"stop", StopLine("aw") + "\nREST\n", false},
			{"another run's go-ahead", GoLine("aw2") + "\nREST\n", false},
			{"no input", "", false},
		} {
			c := Steps("aw", steps(true)...)
			// The rest of the input stays for the shell that ran the script.
			cmd := exec.Command(sh, "-c", `"$0" -c "$1"; cat`, sh, c.String())
			cmd.Stdin = strings.NewReader(tt.in)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s, %s: %v", sh, tt.name, err)
			}
			want := Marker("aw", 1, 0) + "no7\n" + Marker("aw", 2, 0)
			if tt.goes {
				want += "no7\n" + Marker("aw", 3, 0) + "after\n" + Marker("aw", 4, 0)
			} else {
				want += Marker("aw", 0, 0)
			}
			if tt.in != "" {
				want += "REST\n"
			}
			if string(out) != want {
				t.Errorf("%s, %s: stdout %q, want %q", sh, tt.name, out, want)
			}
		}
		// The first step awaits: nothing runs before the go-ahead.
		c := Steps("aw", Step{Cmd: shell.New("echo", "first"), Await: true})
		cmd := exec.Command(sh, "-c", c.String())
		cmd.Stdin = strings.NewReader(StopLine("aw") + "\n")
		if out, err := cmd.Output(); err != nil || string(out) != Marker("aw", 0, 0) {
			t.Errorf("%s, first step awaits, stopped: %v %q", sh, err, out)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("two awaiting steps were accepted")
		}
	}()
	Steps("aw", Step{Cmd: shell.New("true"), Await: true}, Step{Cmd: shell.New("true"), Await: true})
}

// shells returns the POSIX shells installed among those a server may log
// in with: /bin/sh always, then bash, dash, busybox sh, mksh, ksh, zsh.
func shells(t *testing.T) []string {
	t.Helper()
	out := []string{"/bin/sh"}
	for _, name := range []string{"bash", "dash", "mksh", "ksh", "zsh"} {
		if p, err := exec.LookPath(name); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// A script of Capstan's own steps runs with /bin/sh; one that holds a
// team's shell line (shell.Raw) runs with the login shell, as that line
// was written for it.
func TestStepsNeedLoginShellOnlyForRawSteps(t *testing.T) {
	own := []Step{{Cmd: shell.New("mkdir", "-p", "/srv/app")}, {Cmd: shell.POSIX("true").In("/srv")}}
	if c := Steps("tok", own...); c.NeedsLoginShell() {
		t.Errorf("a script of POSIX steps needs the login shell")
	}
	team := append(own, Step{Cmd: shell.Raw("source env.sh && rake db:migrate").In("/srv")})
	if c := Steps("tok", team...); !c.NeedsLoginShell() {
		t.Errorf("a script with a team's shell line does not need the login shell")
	}
}
