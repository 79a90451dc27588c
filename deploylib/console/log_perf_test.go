package console

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// writeCounter records each Write it gets.
type writeCounter struct{ writes []string }

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

// TestLogOneWritePerMessage checks that a message of several lines reaches
// the log file in one write (a thousand hosts' scripts logged line by line
// cost a system call per line), with every line formatted as before.
func TestLogOneWritePerMessage(t *testing.T) {
	tests := []struct {
		name, msg string
		want      string
	}{
		{"one line", "Sending to web1", " DEBUG [r1] Sending to web1\n"},
		{"three lines", "script:\nline 2\nline 3\n", " DEBUG [r1] script:\n DEBUG [r1] line 2\n DEBUG [r1] line 3\n"},
		{"control characters", "a\x1bb\nc", " DEBUG [r1] a^[b\n DEBUG [r1] c\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log writeCounter
			c := New(io.Discard, Options{Now: clock(0), Log: &log, RunID: "r1"})
			c.Log("DEBUG", tt.msg)
			if len(log.writes) != 1 {
				t.Fatalf("%d writes to the log, want 1: %q", len(log.writes), log.writes)
			}
			if log.writes[0] != tt.want {
				t.Errorf("log:\n%q\nwant\n%q", log.writes[0], tt.want)
			}
		})
	}
}

// TestLogTailAfterManyLines checks that the failure report's tail holds
// the last logTailMax lines, in order, however many lines came before
// (the tail is cut back in batches).
func TestLogTailAfterManyLines(t *testing.T) {
	for _, n := range []int{0, 1, logTailMax - 1, logTailMax, logTailMax + 1, 2*logTailMax - 1, 2 * logTailMax, 5*logTailMax + 3} {
		c := New(io.Discard, Options{Now: clock(0), Log: io.Discard})
		var want []string
		for i := range n {
			c.Log("INFO", fmt.Sprint("line ", i))
			want = append(want, fmt.Sprint("  INFO line ", i))
		}
		want = want[max(0, len(want)-logTailMax):]
		if got := c.LogTail(); !slices.Equal(got, want) {
			t.Errorf("after %d lines, LogTail() = %q, want %q", n, got, want)
		}
	}
}

// TestLogLineAllocations bounds what a log line allocates once the tail
// is full: the line, built once with its newline (not a formatted message,
// then the line, then its copy with the newline), not a new copy of the
// whole tail per line; a message of several lines is one allocation too.
func TestLogLineAllocations(t *testing.T) {
	c := New(io.Discard, Options{Now: clock(0), Log: io.Discard, RunID: "r1"})
	for range 3 * logTailMax {
		c.Log("DEBUG", "warming up")
	}
	msg := strings.Repeat("x", 100)
	lines := strings.Repeat(msg+"\n", 4) + msg
	e := c.Start("web1", "true", ExecOptions{Kind: Capture})
	tests := []struct {
		name string
		log  func()
		max  float64
	}{
		{"a message", func() { c.Log("DEBUG", msg) }, 1},
		{"a message of 5 lines", func() { c.Log("DEBUG", lines) }, 1},
		{"an output line", func() { e.line(msg, false) }, 1},
	}
	for _, tt := range tests {
		if allocs := testing.AllocsPerRun(1000, tt.log); allocs > tt.max {
			t.Errorf("%s: %.1f allocations, want at most %.0f", tt.name, allocs, tt.max)
		}
	}
}
