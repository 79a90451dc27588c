package sshbackend

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// TestAppendShellScript checks that the command shell's script is the
// template with every @TOK@ replaced by the token, @CMD@ by the quoted
// command and @IN@ by the redirection from /dev/null (nothing for a
// command that reads comment lines), whatever the command holds
// (placeholders of its own included), and that building it into a buffer
// large enough allocates nothing: at 1000 hosts, the old replacements and
// copies allocated a script's size four times per command.
func TestAppendShellScript(t *testing.T) {
	for _, cmd := range []string{"true", "echo 'it''s'", "echo @TOK@ @CMD@ @IN@ @SH@ @ZERO@ @", "printf '%s@%s' a b\nexit 3", ""} {
		const tok = "0123456789abcdef"
		for _, lines := range []bool{false, true} {
			for _, posix := range []bool{false, true} {
				in := stdinNull
				if lines {
					in = ""
				}
				sh, zero := loginShell, loginZero
				if posix {
					sh, zero = posixShell, posixZero
				}
				// The template's placeholders first: the command may hold them too.
				want := strings.Replace(scriptTemplate, "@IN@", in, 1)
				want = strings.Replace(want, "@SH@", sh, 1)
				want = strings.Replace(want, "@ZERO@", zero, 1)
				want = strings.Replace(strings.ReplaceAll(want, "@TOK@", tok), "@CMD@", shell.Quote(cmd), 1)
				if got := string(appendShellScript(nil, tok, cmd, lines, posix)); got != want {
					t.Errorf("appendShellScript(%q, %v, %v):\n%s\nwant\n%s", cmd, lines, posix, got, want)
				}
				buf := make([]byte, 0, 4096)
				if allocs := testing.AllocsPerRun(100, func() { buf = appendShellScript(buf[:0], tok, cmd, lines, posix) }); allocs != 0 {
					t.Errorf("appendShellScript(%q, %v, %v) into a large enough buffer: %.0f allocations, want 0", cmd, lines, posix, allocs)
				}
			}
		}
		if got, want := shellScript(tok, cmd), string(appendShellScript(nil, tok, cmd, false, false)); got != want {
			t.Errorf("shellScript(%q) is not the script with standard input from /dev/null:\n%s", cmd, got)
		}
	}
	if !strings.Contains(shellScript("t", "cat"), `"${capstan_sh##*/}" </dev/null >&8 `) {
		t.Errorf("a command without comment lines does not read /dev/null:\n%s", shellScript("t", "cat"))
	}
	if s := string(appendShellScript(nil, "t", "cat", true, false)); strings.Contains(s, "/dev/null >&8") || !strings.Contains(s, `"${capstan_sh##*/}" >&8 `) {
		t.Errorf("a command with comment lines does not read the shell's input:\n%s", s)
	}
}

// recordWriter records the writes it gets.
type recordWriter struct{ writes []string }

func (w *recordWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

// TestWriteScript checks that a script is written whole, in writes of at
// most maxScriptPacket bytes: x/crypto keeps buffers the size of the
// largest packet for the life of the connection.
func TestWriteScript(t *testing.T) {
	for _, n := range []int{0, 1, maxScriptPacket - 1, maxScriptPacket, maxScriptPacket + 1, 5*maxScriptPacket + 17} {
		script := []byte(strings.Repeat("0123456789abcdef", n/16+1)[:n])
		var w recordWriter
		writeScript(&w, script)
		for i, p := range w.writes {
			if len(p) == 0 || len(p) > maxScriptPacket {
				t.Errorf("%d bytes: write %d has %d bytes, want 1 to %d", n, i, len(p), maxScriptPacket)
			}
		}
		if got := strings.Join(w.writes, ""); got != string(script) {
			t.Errorf("%d bytes: wrote %d bytes, not the script", n, len(got))
		}
	}
}

// TestShellScriptIsParsedWhole checks that the shells a command shell may
// be (/bin/sh, here dash, and bash) run nothing of a script before they
// have read the whole of it: a script cut short at any line, its input
// ended there, prints no begin line. So when the begin line arrives, the
// shell has read the whole script, and what comes after it on the shell's
// input is the command's to read.
func TestShellScriptIsParsedWhole(t *testing.T) {
	shells := []string{"/bin/sh"}
	if bash, err := exec.LookPath("bash"); err == nil {
		shells = append(shells, bash)
	}
	const tok = "0123456789abcdef"
	script := shellScript(tok, "echo ran")
	for _, sh := range shells {
		run := func(input string) (stdout, stderr string) {
			cmd := exec.Command(sh)
			cmd.Env = append(cmd.Environ(), "SHELL=/bin/sh")
			cmd.Stdin = strings.NewReader(input)
			var o, e bytes.Buffer
			cmd.Stdout, cmd.Stderr = &o, &e
			_ = cmd.Run() // a script cut short is a syntax error
			return o.String(), e.String()
		}
		// The whole script runs.
		if o, e := run(shellInit + script); !strings.Contains(o, beginToken(tok)) || !strings.Contains(o, "ran\n") || !strings.Contains(o, endToken(tok)+" 0 -\n") {
			t.Errorf("%s, whole script: stdout %q, stderr %q", sh, o, e)
		}
		cuts := 0
		for i := range len(script) - 1 {
			if script[i] != '\n' {
				continue
			}
			cuts++
			if o, e := run(shellInit + script[:i+1]); o != "" || strings.Contains(e, beginToken(tok)) {
				t.Errorf("%s ran a script cut after its line %d: stdout %q, stderr %q", sh, cuts, o, e)
			}
		}
		if cuts < 5 {
			t.Errorf("the script was cut at %d lines only", cuts)
		}
	}
}
