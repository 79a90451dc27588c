package sshbackend

import (
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncRecorder records the writes it gets, from any goroutine.
type syncRecorder struct {
	mu     sync.Mutex
	writes []string
}

func (w *syncRecorder) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func (w *syncRecorder) got() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.writes)
}

// TestLineFeedWritesCompleteCommentLines: only the complete lines that
// start with '#' are written, each in one write, long ones too.
func TestLineFeedWritesCompleteCommentLines(t *testing.T) {
	long := "#" + strings.Repeat("x", 2000) + "\n"
	in := "#a\n\nb\n #c\n" + strings.Repeat("y", 1500) + "#d\n" + long + "#e\n##\n#last without newline"
	var w syncRecorder
	f := newLineFeed(&w)
	f.copy(strings.NewReader(in), closedChan)
	if want := []string{"#a\n", long, "#e\n", "##\n"}; !slices.Equal(w.got(), want) {
		t.Errorf("wrote %q, want %q", w.got(), want)
	}
}

// readRecorder is a reader that counts its reads and then blocks until
// release is closed, then ends.
type readRecorder struct {
	mu      sync.Mutex
	reads   int
	release chan struct{}
}

func (r *readRecorder) Read(p []byte) (int, error) {
	r.mu.Lock()
	r.reads++
	r.mu.Unlock()
	<-r.release
	return 0, io.EOF
}

// TestLineFeedHaltedBeforeStart: a feed halted before its command started
// reads nothing (the command may then run in a session of its own, which
// reads its input) and writes nothing.
func TestLineFeedHaltedBeforeStart(t *testing.T) {
	var w syncRecorder
	f := newLineFeed(&w)
	r := &readRecorder{release: make(chan struct{})}
	close(r.release)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.copy(r, make(chan struct{})) // never started
	}()
	f.halt()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("copy did not return after halt")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reads != 0 || len(w.got()) != 0 {
		t.Errorf("%d reads, writes %q: want none", r.reads, w.got())
	}
}

// TestLineFeedDropsLinesAfterStop: once stopped, the feed writes nothing
// more, and reads the rest of its input until it ends, so that a writer
// of a pipe is not left blocked.
func TestLineFeedDropsLinesAfterStop(t *testing.T) {
	var w syncRecorder
	f := newLineFeed(&w)
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.copy(pr, closedChan)
	}()
	if _, err := io.WriteString(pw, "#before\n"); err != nil {
		t.Fatal(err)
	}
	// The line was read; its write may not have happened yet: stop waits
	// for a write in progress, and then the feed writes nothing more.
	if !f.stop(context.Background(), nil) {
		t.Fatal("stop with no blocked write reported false")
	}
	before := w.got()
	if len(before) > 1 {
		t.Fatalf("wrote %q", before)
	}
	for range 3 {
		if _, err := io.WriteString(pw, "#after\n"); err != nil {
			t.Fatal(err)
		}
	}
	pw.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("copy did not return when its input ended")
	}
	if got := w.got(); !slices.Equal(got, before) {
		t.Errorf("wrote %q after stop (%q before)", got[len(before):], before)
	}
}

// blockingWriter blocks each write until release is closed, and records
// the writes.
type blockingWriter struct {
	syncRecorder
	started chan struct{} // gets a value when a write starts
	release chan struct{}
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.started <- struct{}{}
	<-w.release
	return w.syncRecorder.Write(p)
}

// TestLineFeedScriptFirst: the lines wait for the script's write, and stop
// waits for a line's write in progress, until the shell ends.
func TestLineFeedScriptFirst(t *testing.T) {
	w := &blockingWriter{started: make(chan struct{}, 10), release: make(chan struct{})}
	f := newLineFeed(w)
	f.lock()
	go f.writeScript([]byte("script\n"))
	<-w.started
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.copy(strings.NewReader("#line\n"), closedChan)
	}()
	// The line waits for the script's write.
	stopped := make(chan bool, 1)
	ended := make(chan struct{})
	select {
	case <-w.started:
		t.Fatal("a line's write started while the script's was in progress")
	case <-done:
		t.Fatal("copy returned while the script's write was in progress")
	case <-time.After(100 * time.Millisecond):
	}
	go func() { stopped <- f.stop(context.Background(), ended) }()
	select {
	case ok := <-stopped:
		t.Fatalf("stop returned %v while a write was in progress", ok)
	case <-time.After(100 * time.Millisecond):
	}
	close(w.release)
	if ok := <-stopped; !ok {
		t.Error("stop returned false once the write completed")
	}
	<-done
	if got := w.got(); len(got) == 0 || got[0] != "script\n" || len(got) > 2 || len(got) == 2 && got[1] != "#line\n" {
		t.Errorf("writes %q, want the script, then the line or nothing", got)
	}

	// A write blocked for good: stop gives up when the shell ended.
	w = &blockingWriter{started: make(chan struct{}, 10), release: make(chan struct{})}
	defer close(w.release)
	f = newLineFeed(w)
	go f.copy(strings.NewReader("#line\n"), closedChan)
	<-w.started
	close(ended)
	if f.stop(context.Background(), ended) {
		t.Error("stop returned true with a write blocked")
	}
}
