package sshbackend

import (
	"bufio"
	"context"
	"io"
	"sync"
	"sync/atomic"
)

// A command whose standard input is comment lines (backend.Stdio's
// CommentLines) may run in the command shell: it reads the shell's own
// standard input, the session channel, where Run writes its lines. A
// lineFeed writes them: only complete lines that start with '#', each in
// one write; none before the command's script was written and the shell
// printed its begin line (the shell then runs the command, and reads its
// input again only once the command ended), none once Run saw the command
// end (they would reach the next command's shell, as comments at best).
// A line written while the command runs and that it does not read is read
// by the shell after the command, as a comment.
//
// The lines of Stdin that come after the command ended are read and
// dropped, until Stdin ends: Run does not wait for that.
type lineFeed struct {
	w       io.Writer     // the command's input
	mu      chan struct{} // a lock, held by each write to w; taken with a select by stop
	stopped atomic.Bool   // no more lines
	quit    chan struct{} // closed by halt
	once    sync.Once
}

func newLineFeed(w io.Writer) *lineFeed {
	return &lineFeed{w: w, mu: make(chan struct{}, 1), quit: make(chan struct{})}
}

func (f *lineFeed) lock()   { f.mu <- struct{}{} }
func (f *lineFeed) unlock() { <-f.mu }

// writeScript writes the command's script to the shell, holding the lock,
// which the caller took: the script goes before any line.
func (f *lineFeed) writeScript(script []byte) {
	defer f.unlock()
	writeScript(f.w, script)
}

// copy writes the comment lines of r to f.w once start is closed, until r
// ends; it returns without reading r when halt comes before start. After
// halt, it reads the rest of r and drops it.
func (f *lineFeed) copy(r io.Reader, start <-chan struct{}) {
	select {
	case <-start:
	case <-f.quit:
		if !isClosed(start) {
			// The command did not start: it may run in a session of
			// its own, which reads r.
			return
		}
	}
	br := bufio.NewReaderSize(r, 512)
	var line []byte
	skip := false // the rest of a line that does not start with '#'
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line) == 0 && !skip && len(chunk) > 0 && chunk[0] != '#' {
			skip = true
		}
		if !skip {
			line = append(line, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == nil && !skip {
			f.write(line) // complete, and starts with '#'
		}
		line, skip = line[:0], false
		if err != nil {
			return // a last line without its newline is dropped
		}
	}
}

// write writes line, unless the feed stopped.
func (f *lineFeed) write(line []byte) {
	if f.stopped.Load() {
		return
	}
	f.lock()
	defer f.unlock()
	if f.stopped.Load() {
		return
	}
	if _, err := f.w.Write(line); err != nil {
		f.stopped.Store(true)
	}
}

// closeInput closes f.w, unless the feed stopped: the end of a session's
// input.
func (f *lineFeed) closeInput() {
	f.lock()
	defer f.unlock()
	if c, ok := f.w.(io.Closer); ok && !f.stopped.Load() {
		_ = c.Close()
	}
}

// halt stops the feed without waiting for a write in progress: for a
// command whose shell is not kept, or that ran in a session of its own.
func (f *lineFeed) halt() {
	f.stopped.Store(true)
	f.once.Do(func() { close(f.quit) })
}

// stop stops the feed and waits for a write in progress to complete, so
// that nothing of the command's input follows the next script. It reports
// false if that write is still blocked when ctx ends or ended is closed
// (the shell ended): the shell is then not to be used again.
func (f *lineFeed) stop(ctx context.Context, ended <-chan struct{}) bool {
	f.halt()
	select {
	case f.mu <- struct{}{}:
		f.unlock()
		return true
	case <-ended:
	case <-ctx.Done():
	}
	return false
}
