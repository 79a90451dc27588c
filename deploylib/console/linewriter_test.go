package console

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// A secret in a line longer than MaxLine is redacted wherever the line is
// cut, on the console and in the log, whether the line ends, is flushed
// without a newline, or arrives in small writes; on stdout and stderr.
func TestSecretAcrossLineCuts(t *testing.T) {
	const secret = "Zq7-secret-across-the-cut-Zq7"
	redact := func(s string) string { return strings.ReplaceAll(s, secret, "[REDACTED]") }
	for _, start := range []int{
		MaxLine - len(secret) + 1, // the first cut takes all but its last byte
		MaxLine - len(secret)/2,   // the first cut halves it
		MaxLine - 1,               // the first cut takes its first byte
		2*MaxLine - 7,             // the second cut
		3*MaxLine + MaxLine/2,     // in the held-back part at the third cut
		5*MaxLine - 3,             // a later cut
	} {
		for _, total := range []int{start + len(secret) + 10, start + len(secret) + 3*MaxLine} {
			for _, mode := range []string{"newline", "flush", "small writes"} {
				for _, stderr := range []bool{false, true} {
					name := fmt.Sprintf("at %d of %d, %s, stderr %v", start, total, mode, stderr)
					t.Run(name, func(t *testing.T) {
						line := strings.Repeat("y", start) + secret + strings.Repeat("y", total-start-len(secret))
						var out, log bytes.Buffer
						c := New(&out, Options{Now: clock(0), Log: &log, RunID: "r1", Redact: redact})
						e := c.Start("web1", "cat big", ExecOptions{})
						w := e.Stdout()
						if stderr {
							w = e.Stderr()
						}
						data := []byte(line)
						if mode != "flush" {
							data = append(data, '\n')
						}
						if mode == "small writes" {
							for len(data) > 0 {
								k := min(len(data), 1000)
								w.Write(data[:k])
								data = data[k:]
							}
						} else {
							w.Write(data)
						}
						e.End(nil, 0)
						for where, text := range map[string]string{"console": out.String(), "log": log.String()} {
							// The pieces put back together hold the marker
							// once (a cut may fall inside the marker).
							if got := strings.Count(joinPieces(text), "[REDACTED]"); got != 1 {
								t.Errorf("%s: %d [REDACTED], want 1", where, got)
							}
							for k := 6; k <= len(secret); k++ {
								if strings.Contains(text, secret[:k]) || strings.Contains(text, secret[len(secret)-k:]) {
									t.Fatalf("%s shows %d bytes of the secret", where, k)
								}
							}
							if n := strings.Count(text, "y"); n != total-len(secret) {
								t.Errorf("%s: %d bytes of output around the secret, want %d", where, n, total-len(secret))
							}
						}
					})
				}
			}
		}
	}
}

// joinPieces returns the output of the command in a console or log text,
// its pieces put back together.
func joinPieces(text string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		for _, sep := range []string{"| ", "\tout: ", "\terr: "} {
			if i := strings.Index(l, sep); i >= 0 {
				b.WriteString(strings.TrimSuffix(l[i+len(sep):], " …"))
				break
			}
		}
	}
	return b.String()
}

// Pieces of a line cut without redaction are still MaxLine bytes, and a
// redacting writer holds no more than MaxLine+holdBack+writeChunk bytes.
func TestRedactingLineWriterIsBounded(t *testing.T) {
	var lines []string
	w := newRedactingLineWriter(func(l string) { lines = append(lines, l) }, func(s string) string { return s })
	chunk := bytes.Repeat([]byte("y"), 5000)
	for range 200 {
		w.Write(chunk)
		if w.buf.Len() > MaxLine+holdBack+writeChunk {
			t.Fatalf("the buffer holds %d bytes", w.buf.Len())
		}
	}
	w.Flush()
	total := 0
	for i, l := range lines {
		if i < len(lines)-1 && len(l) != MaxLine+len(" …") {
			t.Errorf("piece %d is %d bytes", i, len(l))
		}
		total += len(strings.TrimSuffix(l, " …"))
	}
	if total != 200*5000 {
		t.Errorf("emitted %d bytes, want %d", total, 200*5000)
	}
}
