package deploylib_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// An unparseable known_hosts line does not stop a run: the console warns
// about it once, and every host is still verified.
func TestSSHBadKnownHostsLineWarnsOnce(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 2})
	configure(t, l)
	prepareShared(t, l)
	st := sshStage(l)
	b, err := os.ReadFile(l.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	file := t.TempDir() + "/known_hosts"
	if err := os.WriteFile(file, append([]byte("|1|broken-hash ssh-ed25519 AAAA\n"), b...), 0o600); err != nil {
		t.Fatal(err)
	}
	st.SSH.KnownHostsFile = file
	out, err := start(t, st, deploylib.Check, time.Now())
	if err != nil {
		t.Fatalf("deploy:check: %v\n%s", err, out)
	}
	if n := strings.Count(out, "WARN skipping line 1 of "+file); n != 1 {
		t.Errorf("%d warnings about line 1, want 1:\n%s", n, out)
	}
}
