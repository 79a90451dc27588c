package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// followConn follows a file until ctx ends (tail -F that keeps running),
// or, when fail is set, fails at once like tail on a missing file.
type followConn struct {
	fail    bool
	started chan<- string
	host    string
}

func (c followConn) Run(ctx context.Context, cmd shell.Command, stdio backend.Stdio) error {
	if c.fail {
		fmt.Fprintln(stdio.Stderr, "tail: cannot open 'log/x.log': No such file or directory")
		return &backend.ExitError{Status: 1}
	}
	c.started <- c.host
	<-ctx.Done()
	return fmt.Errorf("stopped: %w", ctx.Err())
}

func (followConn) Close() error { return nil }

// signalWriter is a console that closes seen once it has printed want.
type signalWriter struct {
	syncWriter
	want string
	once sync.Once
	seen chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	n, err := w.syncWriter.Write(p)
	if strings.Contains(w.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

// A host whose file cannot be followed fails mage <stage> logs even when
// the operator stops the others with Ctrl-C (ctx ends) afterwards: the
// error names the host and the exit status is not 0. Stopping hosts that
// were all following is still a success.
func TestFollowLogReportsAFailedHostAfterStop(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		failed string // the host whose tail fails, "" for none
	}{
		{"one host failed", "deploy@web2"},
		{"all following", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := isolate(t, testConfig())
			hosts := []string{"deploy@web1", "deploy@web2", "deploy@web3"}
			started := make(chan string, len(hosts))
			out := &signalWriter{want: "✘ 01 " + tt.failed, seen: make(chan struct{})}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				done <- FollowLog(ctx, "log/x.log", withDeployment(d), WithStage(testStage(hosts...)), WithOutput(out), WithColor(false), WithLogFile(""),
					WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) {
						return followConn{fail: s.Host == tt.failed, started: started, host: s.Host}, nil
					}))
			}()
			following := len(hosts)
			if tt.failed != "" {
				following--
				<-out.seen // the failure is on the console before Ctrl-C
			}
			for range following {
				<-started
			}
			cancel()
			err := <-done
			if tt.failed == "" {
				if err != nil {
					t.Fatalf("stopped while all hosts followed: %v\n%s", err, out.String())
				}
				return
			}
			var ce *CommandError
			if err == nil || !errors.As(err, &ce) || ce.Host != tt.failed || ce.Status != 1 {
				t.Fatalf("error = %v, want the failure of %s (exit status 1)\n%s", err, tt.failed, out.String())
			}
			if strings.Contains(out.String(), "logs: stopped following") {
				t.Errorf("the console reports success:\n%s", out.String())
			}
		})
	}
}
