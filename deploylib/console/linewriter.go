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
	mu   sync.Mutex
	buf  bytes.Buffer
	emit func(line string)
}

// NewLineWriter returns a LineWriter calling emit for every line.
func NewLineWriter(emit func(line string)) *LineWriter {
	return &LineWriter{emit: emit}
}

// MaxLine is the longest line a LineWriter hands on: a longer one (output
// that never ends its line) is handed on in pieces of MaxLine bytes, each
// ending in " …", so memory stays bounded whatever a server prints.
const MaxLine = 32 << 10

// Write implements io.Writer.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		chunk := p[:min(len(p), MaxLine)]
		p = p[len(chunk):]
		w.buf.Write(chunk)
		for {
			i := bytes.IndexByte(w.buf.Bytes(), '\n')
			if i < 0 {
				break
			}
			line := string(bytes.TrimRight(w.buf.Next(i+1), "\r\n"))
			w.emit(line)
		}
		for w.buf.Len() > MaxLine {
			cut := MaxLine
			// Cut at a character boundary.
			for b := w.buf.Bytes(); cut > MaxLine-utf8.UTFMax && !utf8.RuneStart(b[cut]); cut-- {
			}
			w.emit(string(w.buf.Next(cut)) + " …")
		}
	}
	return n, nil
}

// Flush emits a final line that had no newline.
func (w *LineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() > 0 {
		w.emit(w.buf.String())
		w.buf.Reset()
	}
}
