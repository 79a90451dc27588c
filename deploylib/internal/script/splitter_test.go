package script

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

func TestStepSplitter(t *testing.T) {
	type part struct {
		n, status int
		out       string
	}
	var got []part
	s := &Splitter{Prefix: []byte(MarkerPrefix("tok")), Mark: func(n, status int, p []byte) {
		got = append(got, part{n, status, string(p)})
	}}
	stream := "one\n" + Marker("tok", 1, 0) + "no newline" + Marker("tok", 2, 0) +
		"capstan-step:tok x y\n" + Marker("tok", 3, 0) + Marker("tok", 4, 7) + "rest"
	// Byte by byte: markers cut anywhere are still found.
	for i := 0; i < len(stream); i++ {
		s.Write([]byte{stream[i]})
	}
	want := []part{{1, 0, "one\n"}, {2, 0, "no newline"}, {3, 0, "capstan-step:tok x y\n"}, {4, 7, ""}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if string(s.Buf) != "rest" {
		t.Errorf("left %q", s.Buf)
	}
}

// FuzzStepSplitter: the reader of a script of steps' output, which finds
// the step markers in it. Whatever the output, and however it is cut
// into writes, it finds the same markers; a marker found is a whole
// line of the marker's form; and a real marker after output that does not
// hold the prefix is always found.
func FuzzStepSplitter(f *testing.F) {
	tok := "run0001-1"
	f.Add([]byte("one\n"+Marker(tok, 1, 0)+"no newline"+Marker(tok, 2, 3)+"rest"), uint(3))
	f.Add([]byte("\ncapstan-step:run0001-1 x y\n\ncapstan-step:run0001-1 1 2 3\n\ncapstan-step:run0001-1 -1 +2\n"), uint(1))
	f.Add([]byte("\ncapstan-step:run0001-1 99999999999999999999 0\n\ncapstan-step:run0001-1\n"), uint(7))
	f.Add([]byte(""), uint(0))
	prefix := []byte(MarkerPrefix(tok))
	type mark struct {
		n, status int
		part      string
	}
	split := func(data []byte, cut uint) ([]mark, string) {
		var got []mark
		s := &Splitter{Prefix: prefix, Mark: func(n, status int, p []byte) { got = append(got, mark{n, status, string(p)}) }}
		size := int(cut%64) + 1
		if cut == 0 {
			size = len(data) + 1
		}
		for len(data) > 0 {
			k := min(size, len(data))
			s.Write(data[:k])
			data = data[k:]
		}
		return got, string(s.Buf)
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint) {
		whole, restWhole := split(data, 0)
		chunked, restChunked := split(data, cut)
		if fmt.Sprint(whole) != fmt.Sprint(chunked) || restWhole != restChunked {
			t.Errorf("cut in writes of %d: %v rest %q, whole: %v rest %q", cut%64+1, chunked, restChunked, whole, restWhole)
		}
		// The marks and the rest hold the stream less the marker lines:
		// never more than it.
		n := len(restWhole)
		for _, m := range whole {
			n += len(m.part) + len(prefix)
		}
		if n > len(data) {
			t.Errorf("marks %v and rest %q hold more than the %d bytes written", whole, restWhole, len(data))
		}
		if !bytes.Contains(data, prefix) {
			if len(whole) != 0 {
				t.Errorf("marks in a stream without the prefix: %v", whole)
			}
			got, _ := split(append(append([]byte(nil), data...), Marker(tok, 3, 5)...), cut)
			if len(got) != 1 || got[0].n != 3 || got[0].status != 5 || got[0].part != string(data) {
				t.Errorf("the real marker after %q: %v", data, got)
			}
		}
	})
}

// AnswerText answers a script's text step by step, as the simulated SSH
// servers do: each step's own text to respond, each answer followed by its
// step's marker on both streams, which Splitter cuts back into the steps.
func TestAnswerText(t *testing.T) {
	c := Steps("run0001-2",
		Step{Cmd: shell.New("echo", "one")},
		Step{Cmd: shell.New("echo", "two").In("/tmp"), Gate: Gate{NonEmpty: true}},
		Step{Cmd: shell.New("echo", "three")})
	var asked []string
	out, errs, ok := AnswerText(c.String(), func(step string) string {
		asked = append(asked, step)
		return fmt.Sprintf("answer %d\n", len(asked))
	})
	if !ok || len(asked) != 3 || !strings.Contains(asked[0], "echo one") || !strings.Contains(asked[1], "echo two") || !strings.Contains(asked[2], "echo three") {
		t.Fatalf("ok %v, steps asked %q", ok, asked)
	}
	var parts []string
	s := &Splitter{Prefix: []byte(MarkerPrefix("run0001-2")), Mark: func(n, status int, p []byte) {
		parts = append(parts, fmt.Sprintf("%d %d %s", n, status, p))
	}}
	s.Write([]byte(out))
	if want := "[1 0 answer 1\n 2 0 answer 2\n 3 0 answer 3\n]"; fmt.Sprint(parts) != want {
		t.Errorf("stdout parts %q, want %q", parts, want)
	}
	if strings.Count(errs, "capstan-step:run0001-2") != 3 {
		t.Errorf("stderr %q: want the three markers", errs)
	}
	if _, _, ok := AnswerText(shell.New("echo", "x").String(), nil); ok {
		t.Error("a plain command was taken for a script")
	}
}
