package sshbackend

import (
	"bytes"
	"io"
	"sync"
)

// shellStream is one output stream of the command shell, standard output
// or error. A goroutine reads it (read) and hands the bytes between the
// current command's begin line and end token to that command's writer
// (its frame), as they arrive. Bytes between commands are dropped.
type shellStream struct {
	// onBegin receives what follows the begin token on its line.
	onBegin func(arg string)

	mu  sync.Mutex
	f   *frame // the command in progress; nil between commands
	buf []byte // bytes received and not handed on yet
}

// frame is one command's part of a stream.
type frame struct {
	begin, end []byte // the tokens
	w          io.Writer
	werr       error // the first error of w; w is io.Discard from then on
	state      frameState
	trailer    string // what follows the end token on its line

	begun chan struct{} // closed when the begin line was read
	done  chan struct{} // closed when the end line was read
}

type frameState int

const (
	seekBegin frameState = iota // dropping bytes up to the begin line
	inBody                      // handing bytes on, up to the end token
	inTrailer                   // reading the rest of the end line
	frameDone
)

// maxTrailer bounds the rest of a begin or end line: a longer one is not
// ours, so its frame ends there (status unknown).
const maxTrailer = 256

func (f *frame) isBegun() bool { return isClosed(f.begun) }
func (f *frame) isDone() bool  { return isClosed(f.done) }

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// write hands p on to the command's writer.
func (f *frame) write(p []byte) {
	if len(p) == 0 || f.werr != nil {
		return
	}
	if _, err := f.w.Write(p); err != nil {
		f.werr = err
		f.w = io.Discard
	}
}

// expect makes a new command, framed by the tokens of tok, the stream's
// current one; its bytes go to w (nil: discarded). Call it before the
// command's script is sent.
func (s *shellStream) expect(tok string, w io.Writer) *frame {
	if w == nil {
		w = io.Discard
	}
	f := &frame{
		begin: []byte(beginToken(tok)),
		end:   []byte(endToken(tok)),
		w:     w,
		begun: make(chan struct{}),
		done:  make(chan struct{}),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f = f
	s.buf = s.buf[:0]
	return f
}

// detach makes sure that f's writer gets nothing more: Run calls it before
// returning. If f was not done, the rest of its bytes are dropped.
func (s *shellStream) detach(f *frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.w = io.Discard
	if s.f == f {
		s.f = nil
		s.buf = nil
	}
}

// The read buffer of each stream of a command shell starts at
// minStreamRead bytes, enough for a begin or end line and the output of
// most deploy commands, and doubles after each read that filled it, up to
// maxStreamRead (x/crypto's largest channel packet); it shrinks back
// between commands. It lives as long as the connection, two per host: a
// channel's Read copies what has arrived from the channel's own buffer, so
// a larger buffer would save only calls, and cost memory per host (at 1000
// hosts, fixed 8 KiB buffers were 16 MB).
const (
	minStreamRead = 256
	maxStreamRead = 32 << 10
)

// read feeds the stream from r until r ends, then calls end.
func (s *shellStream) read(r io.Reader, end func()) {
	defer end()
	b := make([]byte, minStreamRead)
	for {
		n, err := r.Read(b)
		idle := false
		if n > 0 {
			idle = s.feed(b[:n])
		}
		if err != nil {
			s.finish()
			return
		}
		switch {
		case idle && len(b) > minStreamRead:
			b = make([]byte, minStreamRead)
		case n == len(b) && len(b) < maxStreamRead:
			b = make([]byte, 2*len(b))
		}
	}
}

// feed processes p, the next bytes of the stream. It reports whether the
// stream is between commands.
func (s *shellStream) feed(p []byte) (idle bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return true
	}
	s.buf = append(s.buf, p...)
	for s.f != nil && s.step(s.f) {
	}
	return s.f == nil
}

// step advances f over s.buf; it reports whether it should be called
// again.
func (s *shellStream) step(f *frame) bool {
	switch f.state {
	case seekBegin:
		i := bytes.Index(s.buf, f.begin)
		if i < 0 {
			s.keepTail(len(f.begin) - 1)
			return false
		}
		n := i + len(f.begin)
		arg := ""
		if j := bytes.IndexByte(s.buf[n:], '\n'); j >= 0 {
			arg = string(s.buf[n : n+j])
			n += j + 1
		} else if len(s.buf)-n <= maxTrailer {
			s.keepTail(len(s.buf) - i)
			return false
		} // else not our line after all: take the token alone
		if s.onBegin != nil {
			s.onBegin(arg)
		}
		s.consume(n)
		f.state = inBody
		close(f.begun)
		return true
	case inBody:
		if i := bytes.Index(s.buf, f.end); i >= 0 {
			f.write(s.buf[:i])
			s.consume(i + len(f.end))
			f.state = inTrailer
			return true
		}
		// Everything but what may be the start of the end token.
		k := partialSuffix(s.buf, f.end)
		f.write(s.buf[:len(s.buf)-k])
		s.keepTail(k)
		return false
	case inTrailer:
		j := bytes.IndexByte(s.buf, '\n')
		if j < 0 && len(s.buf) <= maxTrailer {
			return false
		}
		if j < 0 {
			j = 0
		}
		f.trailer = string(s.buf[:j])
		s.buf = nil // the rest is between commands, and an idle stream holds no buffer
		f.state = frameDone
		s.f = nil
		close(f.done)
		return false
	}
	return false
}

// finish is called when the stream ended: output held back in case it was
// the start of the end token was output after all.
func (s *shellStream) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil && s.f.state == inBody {
		s.f.write(s.buf)
	}
	s.buf = nil
}

// consume drops the first n bytes of s.buf.
func (s *shellStream) consume(n int) {
	s.buf = s.buf[:copy(s.buf, s.buf[n:])]
}

// keepTail drops all but the last n bytes of s.buf.
func (s *shellStream) keepTail(n int) {
	if n < len(s.buf) {
		s.consume(len(s.buf) - n)
	}
}

// partialSuffix returns the length of the longest suffix of b that is a
// proper prefix of token.
func partialSuffix(b, token []byte) int {
	for n := min(len(b), len(token)-1); n > 0; n-- {
		if bytes.HasSuffix(b, token[:n]) {
			return n
		}
	}
	return 0
}
