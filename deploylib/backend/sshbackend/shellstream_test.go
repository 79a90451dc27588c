package sshbackend

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// feedChunks feeds s to st in chunks of n bytes.
func feedChunks(st *shellStream, s string, n int) {
	for i := 0; i < len(s); i += n {
		st.feed([]byte(s[i:min(i+n, len(s))]))
	}
}

func TestShellStreamFrames(t *testing.T) {
	const tok = "0123456789abcdef"
	b, e := beginToken(tok), endToken(tok)
	binary := "\x00\x01\xff\r\n\x1b[31mred\x1b[0m" + "capstan-end:0123" + "\n"
	tests := []struct {
		name, stream, want, trailer, arg string
	}{
		{name: "lines", stream: b + " 42\nout\nout2\n" + e + " 0 -\n", want: "out\nout2\n", trailer: " 0 -", arg: " 42"},
		{name: "no trailing newline", stream: b + " 42\nx" + e + " 0 -\n", want: "x", trailer: " 0 -", arg: " 42"},
		{name: "empty", stream: b + "\n" + e + "\n", want: ""},
		{name: "only a newline", stream: b + "\n\n" + e + "\n", want: "\n"},
		{name: "startup file output before the begin line", stream: "motd\nno newline" + b + " 7\nout\n" + e + " 3 -\n", want: "out\n", trailer: " 3 -", arg: " 7"},
		{name: "binary and a prefix of the end token", stream: b + "\n" + binary + e + " 137 KILL\n", want: binary, trailer: " 137 KILL"},
		{name: "the end token's first byte at the end", stream: b + "\nabc" + e[:1] + e + " 0 -\n", want: "abc" + e[:1], trailer: " 0 -"},
		{name: "another command's tokens are output", stream: b + "\n" + endToken("ffff") + " 1\n" + e + " 0 -\n", want: endToken("ffff") + " 1\n", trailer: " 0 -"},
		{name: "bytes after the end line are dropped", stream: b + "\nx\n" + e + " 0 -\nstray\n", want: "x\n", trailer: " 0 -"},
	}
	for _, tt := range tests {
		for _, n := range []int{1, 2, 3, 7, 1 << 20} {
			var out bytes.Buffer
			var arg string
			st := &shellStream{onBegin: func(a string) { arg = a }}
			f := st.expect(tok, &out)
			feedChunks(st, tt.stream, n)
			if !f.isBegun() || !f.isDone() {
				t.Errorf("%s (chunks of %d): begun %v, done %v", tt.name, n, f.isBegun(), f.isDone())
				continue
			}
			if out.String() != tt.want {
				t.Errorf("%s (chunks of %d): output %q, want %q", tt.name, n, out.String(), tt.want)
			}
			if f.trailer != tt.trailer || arg != tt.arg {
				t.Errorf("%s (chunks of %d): trailer %q, arg %q; want %q, %q", tt.name, n, f.trailer, arg, tt.trailer, tt.arg)
			}
		}
	}
}

func TestShellStreamStreamsLines(t *testing.T) {
	const tok = "feed"
	var out bytes.Buffer
	st := &shellStream{}
	f := st.expect(tok, &out)
	st.feed([]byte(beginToken(tok) + " 1\nfirst line\n"))
	if out.String() != "first line\n" {
		t.Fatalf("a complete line was held back: %q", out.String())
	}
	st.feed([]byte("partial c"))
	if out.String() != "first line\npartial " {
		t.Fatalf("output %q: only what may start the end token may be held back", out.String())
	}
	st.feed([]byte("ontinued\n"))
	if out.String() != "first line\npartial continued\n" {
		t.Fatalf("output %q", out.String())
	}
	st.feed([]byte("tail c"))
	st.finish() // the stream ended without an end token
	if out.String() != "first line\npartial continued\ntail c" || f.isDone() {
		t.Fatalf("after the stream ended: %q, done %v", out.String(), f.isDone())
	}
}

func TestShellStreamBetweenCommandsAndDetach(t *testing.T) {
	var out1, out2 bytes.Buffer
	st := &shellStream{}
	st.feed([]byte("before any command\n"))
	f1 := st.expect("one", &out1)
	st.feed([]byte(beginToken("one") + "\nx" + endToken("one") + " 0 -\nlate output\n"))
	st.detach(f1)
	st.feed([]byte("more late output\n"))
	f2 := st.expect("two", &out2)
	st.feed([]byte(beginToken("two") + "\ny"))
	st.detach(f2) // cancelled
	st.feed([]byte("z" + endToken("two") + " 0 -\n"))
	if out1.String() != "x" || out2.String() != "y" || !f1.isDone() || f2.isDone() {
		t.Errorf("outputs %q, %q; done %v, %v", out1.String(), out2.String(), f1.isDone(), f2.isDone())
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	w.n++
	return 0, errors.New("broken console")
}

func TestShellStreamWriterError(t *testing.T) {
	w := &failingWriter{}
	st := &shellStream{}
	f := st.expect("t", w)
	feedChunks(st, beginToken("t")+"\na\nb\nc\n"+endToken("t")+" 0 -\n", 2)
	if f.werr == nil || w.n != 1 || !f.isDone() {
		t.Errorf("werr %v after %d writes, done %v: want one failed write, then the frame parsed to its end", f.werr, w.n, f.isDone())
	}
}

// TestShellScriptLocally runs the scripts of the command shell through the
// local /bin/sh: statuses, signals, and output byte for byte.
func TestShellScriptLocally(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Fatal("no sh on PATH")
	}
	cmds := []struct {
		cmd, out, errOut, trailer string
	}{
		{cmd: `printf 'a\nb'; printf e >&2`, out: "a\nb", errOut: "e", trailer: " 0 -"},
		{cmd: "exit 3", trailer: " 3 -"},
		{cmd: "exit 137", trailer: " 137 -"},
		{cmd: "cat; echo eof", out: "eof\n", trailer: " 0 -"},
		{cmd: `cd /; X=1; export Y=2; echo "it's"`, out: "it's\n", trailer: " 0 -"},
		{cmd: `echo "[$(pwd)$X$Y]"`, trailer: " 0 -"}, // out set below
	}
	dir := t.TempDir()
	cmds[len(cmds)-1].out = "[" + dir + "]\n"
	var script strings.Builder
	script.WriteString(shellInit)
	for i, c := range cmds {
		tok := string(rune('a' + i))
		s := shellScript(tok, c.cmd)
		if strings.Contains(s, beginToken(tok)) || strings.Contains(s, endToken(tok)) {
			t.Errorf("the script holds its own tokens: %s", s)
		}
		script.WriteString(s)
	}
	sh := exec.Command("/bin/sh")
	sh.Dir = dir
	sh.Env = append(sh.Environ(), "SHELL=/bin/sh")
	sh.Stdin = strings.NewReader(script.String())
	var stdout, stderr bytes.Buffer
	sh.Stdout, sh.Stderr = &stdout, &stderr
	if err := sh.Run(); err != nil {
		t.Fatalf("sh: %v; stderr %q", err, stderr.String())
	}
	outS, errS := &shellStream{}, &shellStream{}
	rest, restErr := stdout.String(), stderr.String()
	for i, c := range cmds {
		tok := string(rune('a' + i))
		var o, e bytes.Buffer
		fo, fe := outS.expect(tok, &o), errS.expect(tok, &e)
		outS.feed([]byte(rest))
		errS.feed([]byte(restErr))
		if !fo.isDone() || !fe.isDone() {
			t.Fatalf("%q: not done; stdout %q stderr %q", c.cmd, stdout.String(), stderr.String())
		}
		// What follows this command's end line is the next commands'.
		rest = rest[strings.Index(rest, endToken(tok)):]
		rest = rest[strings.IndexByte(rest, '\n')+1:]
		restErr = restErr[strings.Index(restErr, endToken(tok)):]
		restErr = restErr[strings.IndexByte(restErr, '\n')+1:]
		if o.String() != c.out || e.String() != c.errOut || fo.trailer != c.trailer {
			t.Errorf("%q: stdout %q, stderr %q, end %q; want %q, %q, %q", c.cmd, o.String(), e.String(), fo.trailer, c.out, c.errOut, c.trailer)
		}
	}
}

// sizeReader yields chunks, one per Read, and records the buffer sizes it
// was given.
type sizeReader struct {
	chunks []string
	sizes  []int
}

func (r *sizeReader) Read(p []byte) (int, error) {
	r.sizes = append(r.sizes, len(p))
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	if r.chunks[0] = r.chunks[0][n:]; r.chunks[0] == "" {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

// TestShellStreamReadBuffer checks that a stream reads with a small buffer
// (it lives as long as the connection), doubles it while reads fill it,
// and goes back to the small one between commands.
func TestShellStreamReadBuffer(t *testing.T) {
	var st shellStream
	var out bytes.Buffer
	st.expect("tok", &out)
	body := strings.Repeat("x", 4*minStreamRead)
	r := &sizeReader{chunks: []string{beginToken("tok") + " 1\n" + body + endToken("tok") + " 0 -\n", "between commands\n"}}
	ended := false
	st.read(r, func() { ended = true })
	if !ended || out.String() != body {
		t.Fatalf("ended %v, output %d bytes, want %d", ended, out.Len(), len(body))
	}
	// Two reads filled their buffers, the third got the rest of the
	// command, and the stream was between commands from then on.
	want := []int{minStreamRead, 2 * minStreamRead, 4 * minStreamRead, minStreamRead, minStreamRead}
	if !slices.Equal(r.sizes, want) {
		t.Errorf("read buffer sizes %v, want %v", r.sizes, want)
	}
}
