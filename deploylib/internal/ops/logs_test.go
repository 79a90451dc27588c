package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
	"github.com/capstan-deploy/capstan/deploylib/internal/enginetest"
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
				done <- d.FollowLog(ctx, "log/x.log", engine.WithStage(appStage(hosts...)), engine.WithOutput(out), engine.WithColor(false), engine.WithLogFile(""),
					engine.WithDialer(func(ctx context.Context, s engine.Server) (backend.Conn, error) {
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
			var ce *engine.CommandError
			if err == nil || !errors.As(err, &ce) || ce.Host != tt.failed || ce.Status != 1 {
				t.Fatalf("error = %v, want the failure of %s (exit status 1)\n%s", err, tt.failed, out.String())
			}
			if strings.Contains(out.String(), "logs: stopped following") {
				t.Errorf("the console reports success:\n%s", out.String())
			}
		})
	}
}

// notifyWriter is a console that tells when its output contains a string.
type notifyWriter struct {
	syncWriter
	mu    sync.Mutex
	waits map[string]chan struct{}
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	n, err := w.syncWriter.Write(p)
	s := w.syncWriter.String()
	w.mu.Lock()
	for want, ch := range w.waits {
		if strings.Contains(s, want) {
			close(ch)
			delete(w.waits, want)
		}
	}
	w.mu.Unlock()
	return n, err
}

// when returns a channel closed once the output contains s.
func (w *notifyWriter) when(s string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	if strings.Contains(w.syncWriter.String(), s) {
		close(ch)
		return ch
	}
	if w.waits == nil {
		w.waits = map[string]chan struct{}{}
	}
	w.waits[s] = ch
	return ch
}

// TestFollowLogLocal follows a file on two hosts: its last lines, then
// what is appended, prefixed by host, until the context ends, which is a
// success.
func TestFollowLogLocal(t *testing.T) {
	t.Parallel()
	d := isolate(t, engine.Config{Application: "shop", Strategy: engine.Upload{}})
	dir := t.TempDir()
	file := filepath.Join(dir, "app.log")
	os.WriteFile(file, []byte("old line\n"), 0o644)
	out := &notifyWriter{}
	old1, old2 := out.when("01 127.0.0.1 | old line\n"), out.when("01 localhost | old line\n")
	new1, new2 := out.when("01 127.0.0.1 | new line\n"), out.when("01 localhost | new line\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- d.FollowLog(ctx, file, engine.WithStage(engine.Stage{Name: "local", DeployTo: dir, Servers: []engine.Server{
			{Host: "localhost", Roles: []string{"app"}, Local: true},
			{Host: "127.0.0.1", Roles: []string{"app"}, Local: true},
		}}), engine.WithOutput(out), engine.WithColor(false), engine.WithClock(enginetest.FixedClock(0)))
	}()
	<-old1
	<-old2
	f, _ := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("new line\n")
	f.Close()
	<-new1
	<-new2
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("FollowLog: %v\n%s", err, out.String())
	}
	for _, want := range []string{"01 cd " + filepath.Join(dir, "current") + " 2>/dev/null ; tail -n 10 -F -- " + file + "\n", "01 localhost | old line\n", "    - 01 localhost stopped after 0.0s\n", "logs: stopped following " + file + " on 2 hosts"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("console lacks %q:\n%s", want, out.String())
		}
	}
}
