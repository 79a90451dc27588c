package sshbackend_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
	"github.com/capstan-deploy/capstan/deploylib/lab"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// dial connects with cfg and closes the connection when t ends.
func dial(t *testing.T, cfg sshbackend.Config) *sshbackend.Conn {
	t.Helper()
	c, err := sshbackend.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startOne starts a one-host lab and dials it.
func startOne(t *testing.T) (*lab.Lab, *lab.Host, *sshbackend.Conn) {
	t.Helper()
	l := lab.Start(t, lab.Options{})
	h := l.Hosts[0]
	return l, h, dial(t, l.SSHConfig(h))
}

// run runs cmd and returns its standard output and error.
func run(ctx context.Context, c backend.Conn, cmd shell.Command) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	err = c.Run(ctx, cmd, backend.Stdio{Stdout: &o, Stderr: &e})
	return o.String(), e.String(), err
}

// processes returns the PIDs of the local processes whose command line
// (spaces for NULs) is cmdline. The lab's hosts run on this machine, so
// their processes are visible here.
func processes(cmdline string) []string {
	var found []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(b) == 0 {
			continue
		}
		line := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
		if line == cmdline {
			found = append(found, e.Name())
		}
	}
	return found
}

// eventually waits up to d for cond.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
