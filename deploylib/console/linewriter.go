package console

import (
	"bytes"
	"sync"
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

// Write implements io.Writer.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		line := string(bytes.TrimRight(w.buf.Next(i+1), "\r\n"))
		w.emit(line)
	}
	return len(p), nil
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
