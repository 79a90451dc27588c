package sshbackend

import (
	"bytes"
	"strings"
	"testing"
)

func TestPIDMarker(t *testing.T) {
	tests := []struct {
		name    string
		stream  func(prefix string) string
		wantOut func(prefix string) string
		wantPID int
	}{
		{
			name:    "marker first",
			stream:  func(p string) string { return p + "4242\nhello\nworld" },
			wantOut: func(string) string { return "hello\nworld" },
			wantPID: 4242,
		},
		{
			name:    "startup file output before the marker",
			stream:  func(p string) string { return "motd line\n" + p + "17\nout\n" },
			wantOut: func(string) string { return "motd line\nout\n" },
			wantPID: 17,
		},
		{
			name:    "no marker",
			stream:  func(string) string { return "a\nb" },
			wantOut: func(string) string { return "a\nb" },
		},
		{
			name:    "a line like the marker with another token passes",
			stream:  func(string) string { return "capstan-pid:0000:1\nx\n" },
			wantOut: func(string) string { return "capstan-pid:0000:1\nx\n" },
		},
		{
			name:    "marker line later in the output is not special once found",
			stream:  func(p string) string { return p + "5\n" + p + "6\n" },
			wantOut: func(p string) string { return p + "6\n" },
			wantPID: 5,
		},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 3, 1 << 20} {
			var out bytes.Buffer
			m := newPIDMarker(&out)
			s := tt.stream(string(m.prefix))
			for i := 0; i < len(s); i += chunk {
				end := min(i+chunk, len(s))
				if n, err := m.Write([]byte(s[i:end])); err != nil || n != end-i {
					t.Fatalf("%s: Write = %d, %v", tt.name, n, err)
				}
			}
			m.flush()
			want := tt.wantOut(string(m.prefix))
			if out.String() != want {
				t.Errorf("%s (chunks of %d): output %q, want %q", tt.name, chunk, out.String(), want)
			}
			if m.PID() != tt.wantPID {
				t.Errorf("%s (chunks of %d): PID %d, want %d", tt.name, chunk, m.PID(), tt.wantPID)
			}
			select {
			case <-m.found:
			default:
				t.Errorf("%s: found not closed after flush", tt.name)
			}
		}
	}
}

func TestPIDMarkerGivesUpOnEndlessLine(t *testing.T) {
	var out bytes.Buffer
	m := newPIDMarker(&out)
	big := strings.Repeat("x", maxMarkerScan+10)
	m.Write([]byte(big))
	select {
	case <-m.found:
	default:
		t.Fatal("still scanning after more than maxMarkerScan bytes without a newline")
	}
	m.Write([]byte("tail"))
	if out.String() != big+"tail" {
		t.Errorf("output lost or reordered: %d bytes", out.Len())
	}
}

func TestPIDMarkerWrap(t *testing.T) {
	m := newPIDMarker(nil)
	got := m.wrap("cd /srv && ls")
	want := "echo " + string(m.prefix) + "$$\ncd /srv && ls"
	if got != want {
		t.Errorf("wrap = %q, want %q", got, want)
	}
	m.detach()
	if _, err := m.Write([]byte("late\n")); err != nil {
		t.Error(err)
	}
}
