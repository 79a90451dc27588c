package console

import (
	"bytes"
	"sync"
	"unicode/utf8"
)

// LineWriter splits what is written to it into lines and hands each
// complete line to a function, so output from parallel hosts is printed a
// whole line at a time.
type LineWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	emit   func(line string)
	redact func(string) string // nil: none
}

// NewLineWriter returns a LineWriter calling emit for every line.
func NewLineWriter(emit func(line string)) *LineWriter {
	return &LineWriter{emit: emit}
}

// newRedactingLineWriter returns a LineWriter that applies redact to every
// line before it is cut into pieces (see [MaxLine]), so that no cut splits
// a secret into two pieces that each escape redaction.
func newRedactingLineWriter(emit func(line string), redact func(string) string) *LineWriter {
	return &LineWriter{emit: emit, redact: redact}
}

// MaxLine is the longest line a LineWriter hands on: a longer one (output
// that never ends its line) is handed on in pieces of MaxLine bytes, each
// ending in " …", so memory stays bounded whatever a server prints.
//
// A redacting LineWriter redacts a line before cutting it: a complete line
// is redacted whole; of a line still arriving, holdBack bytes stay in the
// buffer after each cut, so that a secret up to holdBack bytes long that
// straddles a cut is in the buffer whole when the buffer is redacted.
const MaxLine = 32 << 10

// holdBack is how much of a line still arriving a LineWriter keeps after
// cutting pieces off it; writeChunk is how much it takes in at a time.
// The buffer holds at most MaxLine+holdBack+writeChunk bytes.
const (
	holdBack   = MaxLine
	writeChunk = MaxLine / 4
)

// Write implements io.Writer.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		chunk := p[:min(len(p), writeChunk)]
		p = p[len(chunk):]
		w.buf.Write(chunk)
		for {
			i := bytes.IndexByte(w.buf.Bytes(), '\n')
			if i < 0 {
				break
			}
			w.emitLine(string(bytes.TrimRight(w.buf.Next(i+1), "\r\n")))
		}
		if w.buf.Len() > MaxLine+holdBack {
			w.cutLocked()
		}
	}
	return n, nil
}

// emitLine hands on a complete line, redacted whole, in pieces of at most
// MaxLine bytes.
func (w *LineWriter) emitLine(line string) {
	if w.redact != nil {
		line = w.redact(line)
	}
	for len(line) > MaxLine {
		cut := runeCut(line, MaxLine)
		w.emit(line[:cut] + " …")
		line = line[cut:]
	}
	w.emit(line)
}

// cutLocked hands on the start of a line too long to wait for its end,
// in pieces of MaxLine bytes, keeping the last holdBack bytes or more.
func (w *LineWriter) cutLocked() {
	s := w.buf.String()
	if w.redact != nil {
		s = w.redact(s)
	}
	for len(s) > MaxLine+holdBack {
		cut := runeCut(s, MaxLine)
		w.emit(s[:cut] + " …")
		s = s[cut:]
	}
	w.buf.Reset()
	w.buf.WriteString(s)
}

// runeCut returns where to cut s, longer than n bytes, to keep at most n
// bytes: n, or up to utf8.UTFMax-1 bytes before, at a character boundary.
func runeCut(s string, n int) int {
	cut := n
	for cut > n-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return cut
}

// Flush emits a final line that had no newline.
func (w *LineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() > 0 {
		w.emitLine(w.buf.String())
		w.buf.Reset()
	}
}
