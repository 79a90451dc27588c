package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
)

// TestConnectionFailureNamesTheHost: a host that refuses the connection is
// reported as such, not as a repository that cannot be read.
func TestConnectionFailureNamesTheHost(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	var out bytes.Buffer
	err := d.Start(context.Background(), Deploy, WithStage(testStage("deploy@127.0.0.1:2299")), WithOutput(&out), WithColor(false),
		WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) {
			return nil, errors.New("dial tcp 127.0.0.1:2299: connect: connection refused")
		}))
	if err == nil {
		t.Fatal("deploy succeeded")
	}
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	want := "git:check: cannot connect to deploy@127.0.0.1:2299: dial tcp 127.0.0.1:2299: connect: connection refused"
	if last := lines[len(lines)-1]; last != want {
		t.Errorf("last line of the error:\n%s\nwant\n%s", last, want)
	}
	if strings.Contains(err.Error(), "cannot read repository") {
		t.Errorf("the repository is blamed: %v", err)
	}
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Host != "deploy@127.0.0.1:2299" {
		t.Errorf("error %v is not a *ConnectError for the host", err)
	}
}

// TestConnectionRefusedOverSSH: the same through the SSH backend, to a
// port where nothing listens.
func TestConnectionRefusedOverSSH(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	st := testStage("deploy@" + addr)
	st.SSH = SSHOptions{ConfigFile: "none", KnownHostsFile: filepath.Join(t.TempDir(), "known_hosts"), KnownHostsOnly: true}
	var out bytes.Buffer
	err = d.Start(context.Background(), Deploy, WithStage(st), WithOutput(&out), WithColor(false))
	lines := strings.Split(strings.TrimSpace(fmt.Sprint(err)), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "git:check: cannot connect to deploy@"+addr+": dial tcp "+addr+": ") || !strings.Contains(last, "connection refused") {
		t.Errorf("last line of the error: %s\nwant git:check: cannot connect to deploy@%s: ...connection refused", last, addr)
	}
}
