package shell

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestQuote(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", "''"},
		{"plain", "plain"},
		{"/srv/app/releases/20261125214042", "/srv/app/releases/20261125214042"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"$(id)", "'$(id)'"},
		{"`id`", "'`id`'"},
		{"x;rm -rf /", "'x;rm -rf /'"},
		{"line\nbreak", "'line\nbreak'"},
		{"~root", "'~root'"},
		{"--upload-pack=touch /tmp/x", "'--upload-pack=touch /tmp/x'"},
		{"*", "'*'"},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestQuoteRoundTrip hands quoted words to a real shell and checks that
// each comes back unchanged.
func TestQuoteRoundTrip(t *testing.T) {
	words := []string{"", "a b", "it's", "$(touch pwned)", "`id`", "a\nb", "'\"'", "\\", "!x", "*", "-n", "é ü", "\t"}
	for _, w := range words {
		out, err := exec.Command("/bin/sh", "-c", "printf '%s' "+Quote(w)).Output()
		if err != nil {
			t.Fatalf("sh for %q: %v", w, err)
		}
		if string(out) != w {
			t.Errorf("sh read %q back as %q", w, out)
		}
	}
}

func TestCommandString(t *testing.T) {
	tests := []struct {
		name string
		cmd  Command
		want string
	}{
		{"zero", Command{}, "''"},
		{"plain", New("mkdir", "-p", "/srv/app/shared"), "mkdir -p /srv/app/shared"},
		{"quoted args", New("echo", "a b", "it's"), `echo 'a b' 'it'\''s'`},
		{"dir", New("git", "remote", "update").In("/srv/my app/repo"), "cd '/srv/my app/repo' && git remote update"},
		{"env sorted", New("git", "fetch").WithEnv("B", "2").WithEnv("A", "x y"), "( export A='x y' B=2 ; git fetch )"},
		{"dir then env", New("true").In("/d").WithEnv("K", "v"), "cd /d && ( export K=v ; true )"},
		{"bad env key quoted", New("true").WithEnv("A;id", "v"), "( export 'A;id'=v ; true )"},
		{"chain", New("test", "-d", "/x").And(New("rm", "-rf", "/x")), "test -d /x && rm -rf /x"},
		{"chain in dir", New("a").And(New("b")).In("/d"), "cd /d && ( a && b )"},
		{"pipe", New("git", "archive", "abc").Pipe(New("tar", "-x", "-f", "-", "-C", "/r")), "git archive abc | tar -x -f - -C /r"},
		{"operand grouped", New("test", "-L", "/l").Or(New("rm", "/l").And(New("ln", "-s", "/t", "/l"))), "test -L /l || { rm /l && ln -s /t /l; }"},
		{"operand with cd", New("true").And(New("cd", "/d").And(New("ls"))), "true && ( cd /d && ls )"},
		{"operand with exit", New("true").Or(New("echo", "no").And(New("exit", "1"))), "true || ( echo no && exit 1 )"},
		{"operand with printf -v", New("true").And(New("printf", "-v", "x", "y").And(New("true"))), "true && ( printf -v x y && true )"},
		{"operand with printf", New("true").And(New("printf", "%s", "y").And(New("true"))), "true && { printf %s y && true; }"},
		{"operand in dir with env", New("true").And(New("a").And(New("b")).In("/d").WithEnv("K", "v")), "true && ( cd /d && { export K=v ; a && b; } )"},
		{"operand in dir", New("true").And(New("a").In("/d")), "true && ( cd /d && a )"},
		{"operand with raw in dir", New("true").And(Raw("a &").In("/d")), "true && ( cd /d && ( a & ) )"},
		{"operand holding a subshell", New("true").And(New("a").And(New("b").In("/d"))), "true && { a && ( cd /d && b ); }"},
		{"operand holding raw", New("true").And(New("a").And(Raw("x=1"))), "true && { a && ( x=1 ); }"},
		{"redirects", New("echo", "x y").AppendTo("/srv/app/revisions.log"), "echo 'x y' >> /srv/app/revisions.log"},
		{"quiet", New("cat", "/c/REVISION").Quiet(), "cat /c/REVISION 2>/dev/null"},
		{"not", New("test", "-e", "/x").Not(), "! test -e /x"},
		{"raw", Raw("uptime; df -h").In("/srv/app/current"), "cd /srv/app/current && ( uptime; df -h )"},
		{"raw operand", New("true").And(Raw("a || b")), "true && ( a || b )"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cmd.String(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestCommandImmutable(t *testing.T) {
	base := New("echo", "a")
	_ = base.And(New("b")).WithEnv("K", "v").AppendTo("/f")
	if got := base.String(); got != "echo a" {
		t.Errorf("base changed to %q", got)
	}
	withEnv := base.WithEnv("A", "1")
	_ = withEnv.WithEnv("B", "2")
	if got := withEnv.String(); got != "( export A=1 ; echo a )" {
		t.Errorf("WithEnv shared its map: %q", got)
	}
}

func TestValidEnvKey(t *testing.T) {
	for k, want := range map[string]bool{"A": true, "_x1": true, "1A": false, "": false, "A-B": false, "A B": false} {
		if got := ValidEnvKey(k); got != want {
			t.Errorf("ValidEnvKey(%q) = %v", k, got)
		}
	}
}

// TestCommandNameIsData runs commands whose names a shell would read as an
// assignment or a reserved word: each must run the program of that name
// with its arguments, never set a variable or parse as syntax.
func TestCommandNameIsData(t *testing.T) {
	bin := t.TempDir()
	names := []string{"A=B", "if", "then", "while", "!", "{", "case", "in", "time", "function", "x=", "_v1=a=b"}
	for _, n := range names {
		script := "#!/bin/sh\nprintf 'ran %s' \"$(basename \"$0\")\"; printf ' %s' \"$@\"\n"
		if err := os.WriteFile(filepath.Join(bin, n), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			c := New(n, "echo", "x")
			cmd := exec.Command("/bin/sh", "-c", c.String())
			cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
			out, err := cmd.CombinedOutput()
			if want := "ran " + n + " echo x"; err != nil || string(out) != want {
				t.Errorf("sh -c %s: %q, %v; want %q", c.String(), out, err, want)
			}
		})
	}
	// Normal names render as before.
	for _, tt := range []struct {
		c    Command
		want string
	}{
		{New("echo", "x"), "echo x"},
		{New("/usr/bin/env", "A=B", "x"), "/usr/bin/env A=B x"},
		{New("=x"), "=x"},
		{New("ifconfig"), "ifconfig"},
		{New("if").Not(), "! 'if'"},
	} {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("String() = %s, want %s", got, tt.want)
		}
	}
}

func TestDisplay(t *testing.T) {
	guard := New("test", "-d", "/srv/app")
	ln := New("ln", "-s", "/srv/app/releases/1", "/srv/app/tmp/current")
	for _, tt := range []struct {
		name string
		c    Command
		want string
	}{
		{"no display: the whole command", guard.And(ln), "test -d /srv/app && ln -s /srv/app/releases/1 /srv/app/tmp/current"},
		{"a principal command in a chain", guard.And(ln.Shown("ln -s releases/1 current")).And(New("mv", "a", "b")), "ln -s releases/1 current"},
		{"a display covers what was built before it", guard.And(ln).Shown("switch").And(New("rm", "x").Shown("rm x")), "switch && rm x"},
		{"nested", guard.Or(New("echo", "no").And(New("false"))).And(guard.And(ln.Shown("ln"))), "ln"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Display(); got != tt.want {
				t.Errorf("Display() = %q, want %q", got, tt.want)
			}
			if tt.c.String() == tt.c.Display() && tt.c.HasDisplay() && tt.want != tt.c.String() {
				t.Errorf("String() lost the script: %q", tt.c.String())
			}
		})
	}
}

// TestOperandGroupsRunInEveryShell runs chains whose operands render as
// brace groups and as subshells with every POSIX shell installed: the
// statuses and outputs are those of the chain, and an operand's directory
// and environment do not reach the commands after it.
func TestOperandGroupsRunInEveryShell(t *testing.T) {
	dir := t.TempDir()
	show := func(s string) Command { return New("sh", "-c", s) }
	tests := []struct {
		name string
		cmd  Command
		want string
	}{
		{"brace group fails", New("false").Or(New("echo", "a").And(New("false"))).Or(New("echo", "b")), "a\nb\n"},
		{"brace group succeeds", New("true").And(New("echo", "a").And(New("true"))).And(New("echo", "b")), "a\nb\n"},
		{"dir and env stay in the operand",
			New("true").And(show(`echo "$K" "$PWD"`).And(show(`echo "$K"`)).In(dir).WithEnv("K", "v")).
				And(show(`echo "${K-unset}"`)).And(New("pwd")),
			"v " + dir + "\nv\nunset\n" + "/\n"},
		{"cd stays in the operand", New("true").And(New("cd", dir).And(New("true"))).And(New("pwd")), "/\n"},
	}
	shells := 0
	for _, sh := range []string{"sh", "dash", "bash", "ksh", "mksh", "zsh", "busybox"} {
		path, err := exec.LookPath(sh)
		if err != nil {
			continue
		}
		shells++
		for _, tt := range tests {
			t.Run(sh+"/"+tt.name, func(t *testing.T) {
				args := []string{"-c", tt.cmd.String()}
				if sh == "busybox" {
					args = append([]string{"sh"}, args...)
				}
				cmd := exec.Command(path, args...)
				cmd.Dir = "/"
				cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
				out, err := cmd.CombinedOutput()
				if err != nil || string(out) != tt.want {
					t.Errorf("%s -c %s: %v\ngot  %q\nwant %q", sh, tt.cmd, err, out, tt.want)
				}
			})
		}
	}
	if shells == 0 {
		t.Fatal("no POSIX shell found")
	}
}

func TestSubshell(t *testing.T) {
	tests := []struct {
		cmd  Command
		want string
	}{
		{New("a").And(New("b")).In("/d").WithEnv("K", "v"), "( cd /d && { export K=v ; a && b; } )"},
		{New("a").In("/d"), "( cd /d && a )"},
		{New("a").WithEnv("K", "v"), "( { export K=v ; a; } )"},
		{Raw("x &").In("/d"), "( cd /d && ( x & ) )"},
		{Raw("uptime"), "( uptime )"},
		{Raw("x=1").And(Raw("y &")).In("/d"), "( cd /d && { x=1 && ( y & ); } )"},
	}
	for _, tt := range tests {
		if got := tt.cmd.Subshell(); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.cmd, got, tt.want)
		}
	}
}

func TestNeedsLoginShell(t *testing.T) {
	tests := []struct {
		cmd  Command
		want bool
	}{
		{New("git", "fetch").In("/d").WithEnv("K", "v"), false},
		{POSIX("for f in *; do echo $f; done"), false},
		{Script("echo x", nil), false},
		{Raw("source ~/.rvm/scripts/rvm && bundle"), true},
		{New("true").And(New("a").Or(Raw("[[ -n x ]]"))), true},
		{Raw("x").In("/d").Quiet(), true},
		{Script("echo x", nil).ForLoginShell(), true},
	}
	for _, tt := range tests {
		if got := tt.cmd.NeedsLoginShell(); got != tt.want {
			t.Errorf("%s: NeedsLoginShell %v, want %v", tt.cmd, got, tt.want)
		}
	}
}
