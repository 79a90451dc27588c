package sshbackend

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"strconv"
	"sync"
)

// The marker line: every command is prefixed with a line that prints the
// login shell's PID behind a random marker on standard output, and
// pidMarker takes that line out of the stream (see stop.go for its use).

// maxMarkerScan bounds the output searched for the marker line (shell
// startup files may print before it).
const maxMarkerScan = 64 << 10

// pidMarker passes standard output through to w, minus the marker line.
type pidMarker struct {
	w      io.Writer
	prefix []byte // "capstan-pid:<random>:"

	mu       sync.Mutex
	buf      []byte // output held while looking for the marker
	scanning bool
	pid      int
	found    chan struct{} // closed when scanning ends
}

func newPIDMarker(w io.Writer) *pidMarker {
	if w == nil {
		w = io.Discard
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &pidMarker{
		w:        w,
		prefix:   []byte("capstan-pid:" + hex.EncodeToString(b[:]) + ":"),
		scanning: true,
		found:    make(chan struct{}),
	}
}

// wrap returns the script that prints the marker line, then runs cmd.
func (m *pidMarker) wrap(cmd string) string {
	return "echo " + string(m.prefix) + "$$\n" + cmd
}

// Write implements io.Writer.
func (m *pidMarker) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.scanning {
		return m.w.Write(p)
	}
	m.buf = append(m.buf, p...)
	for m.scanning {
		i := bytes.IndexByte(m.buf, '\n')
		if i < 0 {
			if len(m.buf) > maxMarkerScan {
				m.done()
			}
			break
		}
		line := m.buf[:i+1]
		m.buf = m.buf[i+1:]
		if bytes.HasPrefix(line, m.prefix) {
			if pid, err := strconv.Atoi(string(bytes.TrimSpace(line[len(m.prefix):]))); err == nil {
				m.pid = pid
			}
			m.done()
			break
		}
		if _, err := m.w.Write(line); err != nil {
			return 0, err
		}
	}
	if !m.scanning && len(m.buf) > 0 {
		rest := m.buf
		m.buf = nil
		if _, err := m.w.Write(rest); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (m *pidMarker) done() {
	m.scanning = false
	close(m.found)
}

// flush writes what is still held back; call it once the stream ended.
func (m *pidMarker) flush() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.scanning {
		m.done()
	}
	if len(m.buf) > 0 {
		_, _ = m.w.Write(m.buf)
		m.buf = nil
	}
}

// detach makes later writes go nowhere: Run calls it before returning, so
// that output arriving late never reaches the caller's writer.
func (m *pidMarker) detach() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.w = io.Discard
	m.buf = nil
}

// gate is a writer that can be detached like pidMarker.
type gate struct {
	mu sync.Mutex
	w  io.Writer
}

func newGate(w io.Writer) *gate {
	if w == nil {
		w = io.Discard
	}
	return &gate{w: w}
}

// Write implements io.Writer.
func (g *gate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.w.Write(p)
}

func (g *gate) detach() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.w = io.Discard
}

// PID returns the command's process group ID, 0 when not known (yet).
func (m *pidMarker) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pid
}

// Found returns a channel closed when the marker line was found, or when
// the search for it ended without it.
func (m *pidMarker) Found() <-chan struct{} { return m.found }
