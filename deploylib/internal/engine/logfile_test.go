package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
)

// operatorRun starts task against st with a Recorder, a fixed clock and
// run id, and returns the console output and the log.
func operatorRun(t *testing.T, d *Deployment, st Stage, task *Task, opts []Option, rules ...backend.Rule) (console, log string, err error) {
	t.Helper()
	var out, logBuf bytes.Buffer
	rec := backend.NewRecorder("", rules...)
	opts = append([]Option{
		WithStage(st), WithOutput(&out), WithColor(false), WithClock(fixedClock(0)),
		func(o *runOptions) { o.runID = "run0001"; o.logW = &logBuf },
		WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) { return rec.ForHost(s.Host), nil }),
	}, opts...)
	err = d.Start(context.Background(), task, opts...)
	return out.String(), logBuf.String(), err
}

// deployRules answer a deploy on one host: a listing with old releases to
// clean up, and git output on standard error as git writes it.
var deployRules = append([]backend.Rule{
	{Match: "remote update", Reply: backend.Reply{
		Stdout: "0123456789abcdef0123456789abcdef01234567 1795640000\n",
		Stderr: "From git@example.com:acme/shop\n   fedcba9..0123456 main -> main\n"}},
	lockTaken("/srv/shop/releases/20261125214038"),
	{Match: "ls -1 /srv/shop/releases", Reply: backend.Reply{Stdout: "20261120000000\n20261121000000\n20261122000000\n20261123000000\n20261124000000\n20261125214038\n20261125214042\n--capstan--\n--capstan--\n/srv/shop/releases/20261125214042\n--capstan--\n"}},
}, gitRules...)

// TestOperatorGolden pins the console (colour off) and the log of a
// deploy, a failed deploy and a dry run.
func TestOperatorGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    []Option
		rules   []backend.Rule
		wantErr bool
	}{
		{name: "deploy", rules: deployRules},
		{name: "failed", rules: append([]backend.Rule{
			{Match: "ln -s /srv/shop/shared/log", Reply: backend.Reply{Status: 3, Stderr: "ln: /srv/shop/releases/20261125214042/log: No space left on device\n"}},
		}, deployRules...), wantErr: true},
		{name: "dryrun", opts: []Option{WithDryRun()}, rules: deployRules},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := isolate(t, testConfig())
			AfterIn(d, Updated, migrationsPending)
			out, log, err := operatorRun(t, d, testStage("deploy@web1"), Deploy, tt.opts, tt.rules...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v\n%s", err, tt.wantErr, out)
			}
			golden(t, "operator-"+tt.name+".console", out)
			golden(t, "operator-"+tt.name+".log", log)
		})
	}
}

// TestLogFile checks the file itself: created 0600 (in a new directory),
// appended to by each run with a START line, holding every command with
// its output, and no secret.
func TestLogFile(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	secret := NewSecret("s3cr3t-token-for-the-log-test")
	AfterIn(d, Updated, func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			return h.Execute(ctx, "curl", "-H", "Authorization: "+secret.Reveal(), "https://hooks.example.com")
		})
	})
	p := filepath.Join(t.TempDir(), "log", "deploy.log")
	rules := append([]backend.Rule{{Match: "curl", Reply: backend.Reply{Stdout: "echo: " + secret.Reveal() + "\n"}}}, deployRules...)
	var consoles string
	for range 2 {
		var out bytes.Buffer
		rec := backend.NewRecorder("", rules...)
		err := d.Start(context.Background(), Deploy, WithStage(testStage("deploy@web1")), WithOutput(&out), WithColor(false),
			WithLogFile(p), WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) { return rec.ForHost(s.Host), nil }))
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		consoles += out.String()
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(p)
	log := string(b)
	if n := strings.Count(log, " INFO START "); n != 2 {
		t.Errorf("%d START lines, want 2 (appended):\n%s", n, log)
	}
	for _, want := range []string{
		"Running on deploy@web1: cd /srv/shop/repo && ( export GIT_ALLOW_PROTOCOL", // exactly as sent
		"\terr: From git@example.com:acme/shop",
		"\tout: echo: [REDACTED]",
		"with exit status 0 (successful).",
		"END deploy finished in",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(log, secret.Reveal()) || strings.Contains(consoles, secret.Reveal()) {
		t.Errorf("the secret reached the log or the console")
	}

	// An existing log with loose permissions is tightened.
	os.Chmod(p, 0o644)
	f, err := openLogFile(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after reopening %v, want 0600", fi.Mode().Perm())
	}
}

func TestLogFilePath(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		name    string
		opt     *string
		env     string
		setting string
		want    string
	}{
		{"default, under go test", nil, "", "", ""},
		{"setting", nil, "", "var/deploy.log", "var/deploy.log"},
		{"env beats setting", nil, "/tmp/x.log", "var/deploy.log", "/tmp/x.log"},
		{"option beats env", str("o.log"), "/tmp/x.log", "var/deploy.log", "o.log"},
		{"env off", nil, "off", "", ""},
		{"setting off", nil, "", "off", ""},
		{"option empty", str(""), "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Settings: map[string]string{}}
			if tt.setting != "" {
				cfg.Settings[settingLogFile] = tt.setting
			}
			if got := logFilePath(tt.opt, cfg, tt.env); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDryrunTargetSelectsDryRun: DRY_RUN=1 (what the dryrun target sets)
// makes the next run print and log every command, hidden ones included,
// and run none.
func TestDryrunTargetSelectsDryRun(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	setenv(d, "DRY_RUN", "1")
	rec, out, err := recorderRun(t, d, testStage("deploy@web1"), Check, gitRules...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if n := len(rec.Log()); n != 0 {
		t.Errorf("a dry run sent %d commands", n)
	}
	for _, want := range []string{
		"DRY RUN: every command is printed and logged, none is run",
		"      01 ( export GIT_ALLOW_PROTOCOL=file:git:http:https:ssh GIT_TERMINAL_PROMPT=0 ; git ls-remote git@example.com:acme/shop.git main )\n    - 01 deploy@web1 not run; Capture returns \"\"\n",
		"dry run of deploy:check finished, nothing was run",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}
}

// TestDryRunNamesHooksThatBranch: a hook that asks Test or Capture in a
// dry run is told, by name, that the answers were assumed.
func TestDryRunNamesHooksThatBranch(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	probe := d.NewTask("team:probe", "", func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			if ok, err := h.Test(ctx, "test", "-f", "/srv/shop/MAINTENANCE"); err != nil || ok {
				return err // in a dry run ok is true: this branch is taken
			}
			return nil
		})
	})
	BeforeIn(d, Check, probe)
	setenv(d, "DRY_RUN", "1")
	_, out, err := recorderRun(t, d, testStage("deploy@web1"), Check, gitRules...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "WARN dry run: team:probe called Test or Capture, which answered true and \"\" without running anything") {
		t.Errorf("no warning naming team:probe:\n%s", out)
	}
	if strings.Contains(out, "git:check called") {
		t.Errorf("a standard task is named:\n%s", out)
	}
}

// migrationsPending is a hook that says something, through Logf.
func migrationsPending(ctx context.Context) error {
	Logf(ctx, "migrations: 2 pending")
	return nil
}

// TestVerbose: mage -v (MAGEFILE_VERBOSE=1) and VERBOSE=1 show the
// tests and captures too.
func TestVerbose(t *testing.T) {
	t.Parallel()
	for _, env := range []string{"MAGEFILE_VERBOSE", "VERBOSE"} {
		t.Run(env, func(t *testing.T) {
			d := isolate(t, testConfig())
			setenv(d, env, "1")
			_, out, err := recorderRun(t, d, testStage("deploy@web1"), Check, gitRules...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			want := "      01 ( export GIT_ALLOW_PROTOCOL=file:git:http:https:ssh GIT_TERMINAL_PROMPT=0 ; git ls-remote git@example.com:acme/shop.git main )\n" +
				"      01 deploy@web1 | 0123456789abcdef0123456789abcdef01234567\trefs/heads/main\n    ✔ 01 deploy@web1 0.000s\n"
			if !strings.Contains(out, want) {
				t.Errorf("verbose console lacks the capture:\n%s", out)
			}
		})
	}
}

func TestLogfOutsideRun(t *testing.T) {
	// Outside a run Logf prints to standard output and does not panic.
	Logf(context.Background(), "%s", "hello")
}
