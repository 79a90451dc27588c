package ops

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
	"github.com/capstan-deploy/capstan/deploylib/internal/enginetest"
)

// TestDownloadFilesPerHost: download asks only the hosts ROLES selects,
// for the path under current, and writes DIR/<host>/<name> with what each
// host sent; a dry run prints the command and writes nothing.
func TestDownloadFilesPerHost(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	st := engine.Stage{Name: "prod", Servers: []engine.Server{
		{Host: "deploy@web1", Roles: []string{"app"}},
		{Host: "deploy@web2:2222", Roles: []string{"app"}},
		{Host: "deploy@db1", Roles: []string{"db"}},
	}}
	cat := "cat -- /srv/shop/current/log/production.log"
	recs := map[string]*backend.Recorder{
		"deploy@web1":      backend.NewRecorder("deploy@web1", backend.Rule{Match: cat, Reply: backend.Reply{Stdout: "web1 log\n"}}),
		"deploy@web2:2222": backend.NewRecorder("deploy@web2:2222", backend.Rule{Match: cat, Reply: backend.Reply{Stdout: "web2 log\n"}}),
		"deploy@db1":       backend.NewRecorder("deploy@db1"),
	}
	setenv(d, "ROLES", "app")
	dir := filepath.Join(t.TempDir(), "logs")
	var out bytes.Buffer
	if err := d.DownloadFiles(context.Background(), "log/production.log", dir, engine.WithStage(st), engine.WithOutput(&out), engine.WithColor(false), perHostDialer(recs)); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for host, want := range map[string]string{"deploy@web1": "web1 log\n", "deploy@web2_2222": "web2 log\n"} {
		enginetest.AssertFile(t, filepath.Join(dir, host, "production.log"), want)
	}
	if n := len(recs["deploy@db1"].Log()); n != 0 {
		t.Errorf("ROLES=app asked db1 %d times", n)
	}

	dry := filepath.Join(t.TempDir(), "dry")
	out.Reset()
	if err := d.DownloadFiles(context.Background(), "/var/log/syslog", dry, engine.WithStage(st), engine.WithOutput(&out), engine.WithColor(false), engine.WithDryRun()); err != nil {
		t.Fatalf("dry run: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(dry); !os.IsNotExist(err) || !strings.Contains(out.String(), "cat -- /var/log/syslog") {
		t.Errorf("a dry run wrote %s (%v) or did not show the command:\n%s", dry, err, out.String())
	}
}
