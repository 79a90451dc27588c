package engine

import (
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
