package sim

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSimulation runs the simulation at 20 hosts with a short delay, so
// that it keeps working: the deploy completes on every host and the
// client's memory per host is reported.
func TestSimulation(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	const hosts = 20
	dir := t.TempDir()
	f, err := StartFleet(hosts, 5*time.Millisecond, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Deploy(ctx, ClientOptions{Dir: dir, Hosts: hosts, Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if res.Hosts != hosts || res.Wall <= 0 {
		t.Errorf("result %+v", res)
	}
	if res.MemoryPerHost() <= 0 {
		t.Errorf("no memory per host reported: %+v", res)
	}
	if got := f.Stats().Connections.Load(); got != hosts {
		t.Errorf("%d connections, want one per host (%d)", got, hosts)
	}
	if !strings.Contains(out.String(), "deploy finished") {
		t.Errorf("no summary in the output:\n%s", out.String())
	}
	t.Logf("%+v, %d commands, %d sessions", res, f.Stats().Commands.Load(), f.Stats().Sessions.Load())
}

// TestStartFleetRefusesAMissingDirectory: a fleet whose directory is
// missing, or a file, is refused with an error naming it, and nothing
// is left running (it used to panic closing a fleet it had dropped).
func TestStartFleetRefusesAMissingDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	for _, dir := range []string{filepath.Join(t.TempDir(), "missing"), file} {
		f, err := StartFleet(2, 0, dir)
		if err == nil || f != nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("StartFleet(%s) = %v, %v; want an error naming it", dir, f, err)
		}
	}
}
