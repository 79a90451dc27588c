package ops

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
	"github.com/capstan-deploy/capstan/deploylib/internal/enginetest"
)

// TestShowConfig prints a stage's resolved configuration with secrets
// redacted.
func TestShowConfig(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Settings = map[string]string{"slack_channel": "#deploys", "slack_token": "xoxb-1234567890"}
	cfg.Env = map[string]string{"APP_ENV": "production", "API_KEY": "k-123456789"}
	cfg.HealthCheck = &engine.HealthCheck{URL: "http://127.0.0.1:8080/healthz", Retries: 3}
	cfg.SecretEnv = map[string]engine.Secret{"DATABASE_URL": engine.NewSecret("postgres://app:s3cr3t-pw@db1/app")}
	d := isolate(t, cfg)
	setenv(d, "HOSTS", "web1,db1")
	st := engine.Stage{Name: "production", Servers: []engine.Server{
		{Host: "deploy@web1", Roles: []string{"app", "web"}, Primary: true, Properties: map[string]string{"az": "a", "db_password": "hunter22"}},
		{Host: "deploy@web2", Roles: []string{"app", "web"}},
		{Host: "deploy@db1:2222", Roles: []string{"db"}, NoRelease: true},
	}, Settings: map[string]string{"slack_channel": "#prod"}, SSH: engine.SSHOptions{ProxyJump: "ops@bastion"},
		SecretEnv: map[string]engine.Secret{"STRIPE_KEY": engine.NewSecret("sk_live_0123456789")}}
	var out bytes.Buffer
	if err := d.ShowConfig(context.Background(), engine.WithStage(st), engine.WithOutput(&out), engine.WithColor(false)); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"xoxb-1234567890", "k-123456789", "hunter22", "s3cr3t-pw", "sk_live_0123456789"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("secret %q printed", secret)
		}
	}
	enginetest.Golden(t, "config.golden", out.String())
}

// TestStageSetAppend: a stage sets KeepReleases and appends linked files
// and dirs in one field each (Capistrano's set and append in a stage
// file); mage <stage> config shows them resolved, the configuration is
// validated with them, and the configuration passed to Configure does not
// change.
func TestStageSetAppend(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		stage   func(*engine.Stage)
		want    []string // rows of mage <stage> config
		wantErr string
	}{
		{name: "none", stage: func(*engine.Stage) {},
			want: []string{"keep_releases    5\n", "linked_files     config/secrets.yml\n", "linked_dirs      log, tmp/pids\n"}},
		{name: "set and append", stage: func(s *engine.Stage) {
			s.KeepReleases = 3
			s.AppendLinkedFiles = []string{"config/master.key"}
			s.AppendLinkedDirs = []string{"tmp/uploads", "public/system"}
		}, want: []string{"keep_releases    3\n", "linked_files     config/secrets.yml, config/master.key\n", "linked_dirs      log, tmp/pids, tmp/uploads, public/system\n"}},
		{name: "Configure sees them", stage: func(s *engine.Stage) {
			s.KeepReleases = 3
			s.AppendLinkedDirs = []string{"tmp/uploads"}
			s.Configure = func(c *engine.Config) { c.KeepReleases *= 4; c.LinkedDirs = c.LinkedDirs[1:] }
		}, want: []string{"keep_releases    12\n", "linked_dirs      tmp/pids, tmp/uploads\n"}},
		{name: "dir inside a linked dir", stage: func(s *engine.Stage) { s.AppendLinkedDirs = []string{"log/archive"} },
			wantErr: `config: LinkedDirs "log/archive" is inside the linked dir "log"`},
		{name: "file named twice", stage: func(s *engine.Stage) { s.AppendLinkedFiles = []string{"config/secrets.yml"} },
			wantErr: `config: LinkedFiles and LinkedFiles both name "config/secrets.yml"`},
		{name: "file inside a linked dir", stage: func(s *engine.Stage) { s.AppendLinkedFiles = []string{"tmp/pids/app.pid"} },
			wantErr: `LinkedFiles "tmp/pids/app.pid" is inside the linked dir "tmp/pids"`},
		{name: "leaves the release", stage: func(s *engine.Stage) { s.AppendLinkedDirs = []string{"../etc"} },
			wantErr: `config: LinkedDirs: "../etc" leaves the release directory`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := isolate(t, testConfig())
			st := appStage("deploy@web1")
			tc.stage(&st)
			var out strings.Builder
			err := d.ShowConfig(context.Background(), engine.WithStage(st), engine.WithOutput(&out), engine.WithColor(false), engine.WithLogFile(""))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("config lacks %q:\n%s", w, out.String())
				}
			}
			// A run on a stage that changes nothing sees the configuration
			// as Configure set it.
			out.Reset()
			if err := d.ShowConfig(context.Background(), engine.WithStage(appStage("deploy@web1")), engine.WithOutput(&out), engine.WithColor(false)); err != nil {
				t.Fatal(err)
			}
			for _, w := range []string{"keep_releases    5\n", "linked_files     config/secrets.yml\n", "linked_dirs      log, tmp/pids\n"} {
				if !strings.Contains(out.String(), w) {
					t.Errorf("the stage changed the shared configuration: no %q in\n%s", w, out.String())
				}
			}
		})
	}
}
