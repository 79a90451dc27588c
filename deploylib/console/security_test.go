package console

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// sgr matches the colour sequences fatih/color writes.
var sgr = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// A long command is redacted before it is cut at the terminal's edge: a
// cut secret would no longer match.
func TestRedactBeforeTruncate(t *testing.T) {
	const tok = "tok-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
	var out bytes.Buffer
	c := New(&out, Options{Now: clock(0), Width: 80, Redact: func(s string) string {
		return strings.ReplaceAll(s, tok, "[REDACTED]")
	}})
	cmd := "curl -sf -H 'Authorization: Bearer " + tok + "' https://hooks.example.com/deploy"
	c.Start("deploy@web1", cmd, ExecOptions{}).End(nil, 0)
	if strings.Contains(out.String(), "tok-0123") {
		t.Errorf("the console shows part of the secret:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "Bearer [REDACTED]") {
		t.Errorf("the console lacks the redacted command:\n%s", out.String())
	}
}

// Escape and control sequences in remote output and in error messages are
// shown as text, never written to the terminal; Capstan's own colour is
// kept.
func TestHostileOutputIsText(t *testing.T) {
	hostile := []string{
		"\x1b[2J\x1b[H",                  // clear screen
		"\x1b]0;pwned title\x07",         // OSC window title
		"\x1b]8;;http://evil/\x1b\\link", // OSC 8 hyperlink
		"fake\r✔ 01 deploy@web1 0.001s",  // carriage return overwrite
		"\x9b31m",                        // C1 CSI
		"bell\x07 back\b nul\x00 del\x7f",
		"bad utf8 \xff\xfe",
	}
	for _, colour := range []bool{false, true} {
		var out, log bytes.Buffer
		c := New(&out, Options{Now: clock(0), Color: colour, Log: &log})
		c.Task("deploy:hostile")
		e := c.Start("deploy@web1", "cat /srv/x", ExecOptions{})
		for _, h := range hostile {
			io.WriteString(e.Stdout(), h+"\n")
			io.WriteString(e.Stderr(), h+"\n")
		}
		e.End(errors.New("remote said \x1b[2J\x1b]0;t\x07"), -1)
		c.Error("failed \x1b[31m", "detail \x1b[2J")
		c.Warn("warn \x1b[2J")
		c.Failed(Failure{Title: "DEPLOY FAILED", Message: "msg \x1b]0;x\x07", Commands: []FailedCommand{{Host: "h", Command: "c\x1b[2J", Status: "s\x1b[2J"}}})
		for where, text := range map[string]string{"console": out.String(), "log": log.String()} {
			// Capstan's own colour is SGR "\x1b[<digits;>m"; nothing else may
			// reach the terminal.
			stripped := text
			if colour {
				stripped = sgr.ReplaceAllString(text, "")
			}
			if !utf8.ValidString(stripped) {
				t.Errorf("colour %v: %s is not valid UTF-8:\n%q", colour, where, text)
			}
			for i, r := range stripped {
				if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
					t.Errorf("colour %v: %s has control character %U at %d:\n%q", colour, where, r, i, text)
					break
				}
			}
			if !strings.Contains(text, `^[[2J`) && !strings.Contains(text, `\x1b[2J`) {
				t.Errorf("colour %v: %s does not show the escape sequence as text:\n%s", colour, where, text)
			}
		}
	}
}

// A line that never ends is cut into pieces of a bounded size, so memory
// stays bounded whatever the server sends.
func TestEndlessLineIsBounded(t *testing.T) {
	var lines []string
	w := NewLineWriter(func(l string) { lines = append(lines, l) })
	chunk := bytes.Repeat([]byte("y"), 4096)
	for range 1024 { // 4 MiB without a newline
		w.Write(chunk)
		if w.buf.Cap() > 4*MaxLine {
			t.Fatalf("the line buffer grew to %d bytes", w.buf.Cap())
		}
	}
	w.Flush()
	total := 0
	for _, l := range lines {
		if len(l) > MaxLine+len(" …") {
			t.Fatalf("a line of %d bytes was emitted", len(l))
		}
		total += len(strings.TrimSuffix(l, " …"))
	}
	if total != 4<<20 {
		t.Errorf("emitted %d bytes of 4 MiB", total)
	}
}
