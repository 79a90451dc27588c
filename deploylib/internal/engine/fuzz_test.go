package engine

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
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
