package engine

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
)

// localFleet is a stage of two Local servers (this machine through
// /bin/sh, under two names) deploying into dir.
func localFleet(dir string) Stage {
	return Stage{Name: "local", DeployTo: dir, Servers: []Server{
		{Host: "localhost", Roles: []string{"app"}, Local: true},
		{Host: "127.0.0.1", Roles: []string{"app"}, Local: true},
	}}
}

// runTask starts a team task made of fn against st, console in out.
func runTask(t *testing.T, d *Deployment, st Stage, out *syncWriter, fn func(ctx context.Context) error, opts ...Option) error {
	t.Helper()
	return d.Start(context.Background(), d.NewTask("test:task", "", fn),
		append([]Option{WithStage(st), WithOutput(out), WithColor(false), WithClock(fixedClock(0))}, opts...)...)
}

// TestAsCommand: Host.As wraps the whole command (directory, environment)
// in sudo -n -u, quoted.
func TestAsCommand(t *testing.T) {
	t.Parallel()
	d := isolate(t, Config{Application: "shop", DeployTo: "/srv/shop", Strategy: Upload{}})
	rec := backend.NewRecorder("")
	var out syncWriter
	err := runTask(t, d, testStage("deploy@web1"), &out, func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			return h.As("www-data").Within("/srv/shop/current").WithEnv("RAILS_ENV", "production").Execute(ctx, "./bin/cache", "clear it")
		})
	}, WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) { return rec.ForHost(s.Host), nil }))
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	want := `sudo -n -u www-data -- sh -c 'cd /srv/shop/current && ( export RAILS_ENV=production ; ./bin/cache '\''clear it'\'' )'`
	if got := transcript(rec); got != "# deploy@web1\n"+want+"\n" {
		t.Errorf("sent:\n%s\nwant\n%s", got, want)
	}
}

// TestAsUserLocal runs a command as another user for real, with sudo.
func TestAsUserLocal(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root, to sudo to nobody without a password; CI runs the tests as root")
		}
		t.Skip("needs root, to sudo to nobody without a password")
	}
	if _, err := exec.LookPath("sudo"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("sudo is required (apt-get install sudo; go tool mage test installs it)")
		}
		t.Skip("needs sudo")
	}
	d := isolate(t, Config{Application: "shop", Strategy: Upload{}})
	var out syncWriter
	var mu sync.Mutex
	got := map[string]string{}
	err := runTask(t, d, localFleet(t.TempDir()), &out, func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			who, err := h.As("nobody").Capture(ctx, "id", "-un")
			mu.Lock()
			got[h.String()] = who
			mu.Unlock()
			return err
		})
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, h := range []string{"localhost", "127.0.0.1"} {
		if got[h] != "nobody" {
			t.Errorf("%s ran as %q, want nobody", h, got[h])
		}
	}
}

// TestDownloadLocal downloads a file from each of two hosts: one file per
// host, its contents not on the console.
func TestDownloadLocal(t *testing.T) {
	t.Parallel()
	d := isolate(t, Config{Application: "shop", Strategy: Upload{}})
	remote := filepath.Join(t.TempDir(), "production.log")
	content := "line 1\nsecret-ish line 2\n" + strings.Repeat("x", 100000) + "\n"
	if err := os.WriteFile(remote, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	local := t.TempDir()
	var out syncWriter
	err := runTask(t, d, localFleet(t.TempDir()), &out, func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			_, err := h.Download(ctx, remote, local)
			return err
		})
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, h := range []string{"localhost", "127.0.0.1"} {
		p := filepath.Join(local, h, "production.log")
		b, err := os.ReadFile(p)
		if err != nil || string(b) != content {
			t.Errorf("%s: %d bytes, %v; want the remote file", p, len(b), err)
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, fi.Mode().Perm())
		}
	}
	if strings.Contains(out.String(), "secret-ish") {
		t.Errorf("the file's contents reached the console:\n%s", out.String())
	}

	// A missing file fails on the host, naming it, and leaves no file.
	err = runTask(t, d, localFleet(t.TempDir()), &out, func(ctx context.Context) error {
		return On(ctx, Primary("app"), func(ctx context.Context, h *Host) error {
			_, err := h.Download(ctx, remote+".missing", local)
			return err
		})
	})
	if err == nil || !strings.Contains(err.Error(), "localhost: cat -- "+remote+".missing: exit status 1") {
		t.Errorf("download of a missing file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(local, "localhost", "production.log.missing")); !os.IsNotExist(err) {
		t.Errorf("a missing file left a local file: %v", err)
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
	d := isolate(t, Config{Application: "shop", Strategy: Upload{}})
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
		done <- FollowLog(ctx, file, withDeployment(d), WithStage(localFleet(dir)), WithOutput(out), WithColor(false), WithClock(fixedClock(0)))
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

// TestShowConfig prints a stage's resolved configuration with secrets
// redacted.
func TestShowConfig(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Settings = map[string]string{"slack_channel": "#deploys", "slack_token": "xoxb-1234567890"}
	cfg.Env = map[string]string{"APP_ENV": "production", "API_KEY": "k-123456789"}
	cfg.HealthCheck = &HealthCheck{URL: "http://127.0.0.1:8080/healthz", Retries: 3}
	d := isolate(t, cfg)
	setenv(d, "HOSTS", "web1,db1")
	st := Stage{Name: "production", Servers: []Server{
		{Host: "deploy@web1", Roles: []string{"app", "web"}, Primary: true, Properties: map[string]string{"az": "a", "db_password": "hunter22"}},
		{Host: "deploy@web2", Roles: []string{"app", "web"}},
		{Host: "deploy@db1:2222", Roles: []string{"db"}, NoRelease: true},
	}, Settings: map[string]string{"slack_channel": "#prod"}, SSH: SSHOptions{ProxyJump: "ops@bastion"}}
	var out bytes.Buffer
	if err := ShowConfig(context.Background(), withDeployment(d), WithStage(st), WithOutput(&out), WithColor(false)); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"xoxb-1234567890", "k-123456789", "hunter22"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("secret %q printed", secret)
		}
	}
	golden(t, "config.golden", out.String())
}
