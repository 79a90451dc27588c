package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
)

// transcript renders a Recorder's log, one line per command, grouped by
// host in the order each host saw them.
func transcript(rec *backend.Recorder) string {
	byHost := map[string][]string{}
	var hosts []string
	for _, c := range rec.Log() {
		if _, ok := byHost[c.Host]; !ok {
			hosts = append(hosts, c.Host)
		}
		byHost[c.Host] = append(byHost[c.Host], c.Command)
	}
	var b strings.Builder
	for _, h := range hosts {
		fmt.Fprintf(&b, "# %s\n", h)
		for _, c := range byHost[h] {
			b.WriteString(c + "\n")
		}
	}
	return b.String()
}

func TestDeployTranscript(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	rec, out, err := recorderRun(t, d, testStage("deploy@web1"), Deploy, append([]backend.Rule{
		lockTaken("/srv/shop/releases/20261125214038"),
		{Match: "ls -1 /srv/shop/releases", Reply: backend.Reply{Stdout: "20261120000000\n20261121000000\n20261122000000\n20261123000000\n20261124000000\n20261125214038\n20261125214042\njunk\n--capstan--\n20261120000000\n--capstan--\n/srv/shop/releases/20261125214042\n--capstan--\n"}},
	}, gitRules...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	golden(t, "deploy.transcript", transcript(rec))
	golden(t, "deploy.console", out)
}

func TestRollbackTranscript(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	rec, out, err := recorderRun(t, d, testStage("deploy@web1"), Rollback, append([]backend.Rule{
		{Match: "ls -1 /srv/shop/releases", Reply: backend.Reply{Stdout: "20261125214038\n20261125214040\n20261125214042\n--capstan--\n20261125214040\n--capstan--\n/srv/shop/releases/20261125214042\n--capstan--\n/srv/shop/releases/20261125214038/REVISION\n/srv/shop/releases/20261125214040/REVISION\n/srv/shop/releases/20261125214042/REVISION\n"}},
	}, gitRules...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	golden(t, "rollback.transcript", transcript(rec))
	// Unfinished 20261125214040 is skipped: the target is 20261125214038.
	if !strings.Contains(transcript(rec), "alice rolled back to release 20261125214038") {
		t.Errorf("rollback did not target 20261125214038:\n%s", transcript(rec))
	}
}
