package deploylib

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// The parsers of what a server answers get any bytes a hostile or broken
// server may print; they must not panic, and a value that reaches a
// command or a path must match its grammar or be refused with an error
// naming the host. Run one with, for example:
//
//	go test -run '^$' -fuzz '^FuzzParseLockInfo$' -fuzztime 60s ./deploylib
//
// Seeds are added here and kept in testdata/fuzz/FuzzX/.

// FuzzParseLockInfo: a lock's details (and the heartbeat and server_now
// lines after them), as deploy:lock and deploy:unlock read them.
func FuzzParseLockInfo(f *testing.F) {
	f.Add("capstan_lock=2\nrun_id=ab12cd34\nuser=bob\nlocal_host=laptop\npid=77\nmachine=0123456789abcdef0123456789abcdef\nstage=production\ntask=deploy\nbranch=main\nstarted=2026-11-25T21:40:00Z\nlocked_at=2026-11-25T21:40:42Z\nheartbeat=1795640000\nserver_now=1795640075\n")
	f.Add("run_id=x/../../shared\nuser=eve\npid=1;reboot\nmachine=../x\nheartbeat=-9223372036854775808\nserver_now=9223372036854775807\n")
	f.Add("run_id=old\nlocked_at=0001-01-01T00:00:00Z\nserver_now=99999999999\n")
	f.Add("user=\x1b[2Jmallory\nbranch=a\u2028b\nheartbeat= 12\nserver_now=12 \n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		li := parseLockInfo(s)
		if li.Idle != -1 && (li.Idle < 0 || li.Idle > maxLockIdle*time.Second) {
			t.Errorf("idle %v", li.Idle)
		}
		for _, r := range li.String() {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Errorf("String() holds control character %U: %q", r, li.String())
			}
		}
		li.liveness()
		err := li.check("web1")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "web1: ") || strings.ContainsAny(err.Error(), "\n\r\x1b") {
				t.Errorf("refusal %q does not name the host, or is not sanitised", err)
			}
			return
		}
		if li.RunID != "" && !remote.IsRunID(li.RunID) {
			t.Errorf("run_id %q passed the check", li.RunID)
		}
		if li.PID != "" {
			if n, err := strconv.Atoi(li.PID); err != nil || n <= 0 {
				t.Errorf("pid %q passed the check", li.PID)
			}
		}
		l := remote.At("/srv/app")
		cmd, err := l.ClearLock(li.RunID, "u1")
		if err != nil {
			t.Fatalf("ClearLock(%q) after the check passed: %v", li.RunID, err)
		}
		for _, arg := range strings.Fields(cmd.String()) {
			if strings.HasPrefix(arg, "/") && !strings.HasPrefix(arg, l.State()+"/") {
				t.Errorf("unlock's command touches %q: %s", arg, cmd)
			}
		}
	})
}

// FuzzStepSplitter: the reader of a script of steps' output, which finds
// the step markers in it. Whatever the output, and however it is cut
// into writes, it finds the same markers; a marker found is a whole
// line of the marker's form; and a real marker after output that does not
// hold the prefix is always found.
func FuzzStepSplitter(f *testing.F) {
	tok := "run0001-1"
	f.Add([]byte("one\n"+shell.StepMarker(tok, 1, 0)+"no newline"+shell.StepMarker(tok, 2, 3)+"rest"), uint(3))
	f.Add([]byte("\ncapstan-step:run0001-1 x y\n\ncapstan-step:run0001-1 1 2 3\n\ncapstan-step:run0001-1 -1 +2\n"), uint(1))
	f.Add([]byte("\ncapstan-step:run0001-1 99999999999999999999 0\n\ncapstan-step:run0001-1\n"), uint(7))
	f.Add([]byte(""), uint(0))
	prefix := []byte(shell.StepMarkerPrefix(tok))
	type mark struct {
		n, status int
		part      string
	}
	split := func(data []byte, cut uint) ([]mark, string) {
		var got []mark
		s := &stepSplitter{prefix: prefix, mark: func(n, status int, p []byte) { got = append(got, mark{n, status, string(p)}) }}
		size := int(cut%64) + 1
		if cut == 0 {
			size = len(data) + 1
		}
		for len(data) > 0 {
			k := min(size, len(data))
			s.Write(data[:k])
			data = data[k:]
		}
		return got, string(s.buf)
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint) {
		whole, restWhole := split(data, 0)
		chunked, restChunked := split(data, cut)
		if fmt.Sprint(whole) != fmt.Sprint(chunked) || restWhole != restChunked {
			t.Errorf("cut in writes of %d: %v rest %q, whole: %v rest %q", cut%64+1, chunked, restChunked, whole, restWhole)
		}
		// The marks and the rest hold the stream less the marker lines:
		// never more than it.
		n := len(restWhole)
		for _, m := range whole {
			n += len(m.part) + len(prefix)
		}
		if n > len(data) {
			t.Errorf("marks %v and rest %q hold more than the %d bytes written", whole, restWhole, len(data))
		}
		if !bytes.Contains(data, prefix) {
			if len(whole) != 0 {
				t.Errorf("marks in a stream without the prefix: %v", whole)
			}
			got, _ := split(append(append([]byte(nil), data...), shell.StepMarker(tok, 3, 5)...), cut)
			if len(got) != 1 || got[0].n != 3 || got[0].status != 5 || got[0].part != string(data) {
				t.Errorf("the real marker after %q: %v", data, got)
			}
		}
	})
}
