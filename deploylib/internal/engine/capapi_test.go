package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
)

// TestHostSh: a shell line runs as written inside the host's directory,
// environment and user; the console shows the line as written (not the
// wrapping), the log keeps the whole command, and secrets are redacted
// from both.
func TestHostSh(t *testing.T) {
	t.Parallel()
	token := NewSecret("tok-3f9a77c1e5")
	const line = "mkdir -p tmp && touch tmp/restart.txt"
	for _, tc := range []struct {
		name string
		host func(h *Host) *Host
		line string
		// sent is the command the server gets.
		sent string
		// shown is the console's line for the command.
		shown string
		// logged is in the log file, and hidden is nowhere in console or log.
		logged, hidden string
	}{
		{name: "plain", host: func(h *Host) *Host { return h }, line: line,
			sent: line, shown: "01 " + line, logged: line},
		{name: "within", host: func(h *Host) *Host { return h.Within(h.CurrentPath()) }, line: line,
			sent: "cd /srv/shop/current && ( " + line + " )", shown: "01 " + line, logged: "cd /srv/shop/current && ( " + line + " )"},
		{name: "with env", host: func(h *Host) *Host { return h.WithEnv("APP_ENV", "production") }, line: `echo "$APP_ENV" | tee env.txt`,
			sent: `( export APP_ENV=production ; echo "$APP_ENV" | tee env.txt )`, shown: `01 echo "$APP_ENV" | tee env.txt`, logged: "export APP_ENV=production"},
		{name: "as", host: func(h *Host) *Host { return h.As("www-data").Within("/srv/shop/current") }, line: "rm -rf tmp/cache/*",
			sent:  `sudo -n -u www-data -- sh -c 'cd /srv/shop/current && ( rm -rf tmp/cache/* )'`,
			shown: "01 rm -rf tmp/cache/*", logged: "sudo -n -u www-data"},
		{name: "comment", host: func(h *Host) *Host { return h.Within("/srv/shop/current") }, line: "touch tmp/restart.txt # passenger",
			sent: "cd /srv/shop/current && ( touch tmp/restart.txt # passenger\n )", shown: "01 touch tmp/restart.txt # passenger", logged: "# passenger"},
		{name: "secret on the line", host: func(h *Host) *Host { return h }, line: "curl -fsS -H 'Authorization: Bearer " + token.Reveal() + "' https://hooks.example.com/deployed",
			sent:  "curl -fsS -H 'Authorization: Bearer " + token.Reveal() + "' https://hooks.example.com/deployed",
			shown: "01 curl -fsS -H 'Authorization: Bearer [REDACTED]' https://hooks.example.com/deployed", logged: "Bearer [REDACTED]", hidden: token.Reveal()},
		{name: "secret env", host: func(h *Host) *Host { return h.WithSecretEnv("API_TOKEN", token) }, line: `curl -fsS -H "Authorization: Bearer $API_TOKEN" https://hooks.example.com/deployed`,
			sent:  "IFS= read -r API_TOKEN && export API_TOKEN && {\ncurl",
			shown: `01 curl -fsS -H "Authorization: Bearer $API_TOKEN" https://hooks.example.com/deployed`, logged: "IFS= read -r API_TOKEN", hidden: token.Reveal()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := isolate(t, testConfig())
			var rec *backend.Recorder
			task := testTask("app:touch", func(ctx context.Context) error {
				return On(ctx, All(), func(ctx context.Context, h *Host) error { return tc.host(h).Sh(ctx, tc.line) })
			})
			rec = backend.NewRecorder("")
			console, log, err := operatorRun(t, d, testStage("deploy@web1"), task,
				[]Option{WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) { return rec.ForHost(s.Host), nil })})
			if err != nil {
				t.Fatalf("Sh: %v\n%s", err, console)
			}
			cmds := rec.Log()
			if len(cmds) != 1 || !strings.HasPrefix(cmds[0].Command, tc.sent) {
				t.Fatalf("sent %q, want it to start with %q", cmds, tc.sent)
			}
			if !strings.Contains(console, tc.shown+"\n") {
				t.Errorf("console lacks the line %q:\n%s", tc.shown, console)
			}
			if strings.Contains(console, "cd /srv") || strings.Contains(console, "sudo") || strings.Contains(console, "IFS=") {
				t.Errorf("console shows the wrapping, not the line as written:\n%s", console)
			}
			if !strings.Contains(log, tc.logged) {
				t.Errorf("log lacks %q:\n%s", tc.logged, log)
			}
			if tc.hidden != "" && (strings.Contains(console, tc.hidden) || strings.Contains(log, tc.hidden)) {
				t.Errorf("the secret shows:\n%s\n%s", console, log)
			}
		})
	}
}

// TestHostShShell: on a real shell (a Local server runs /bin/sh), the
// line's operators, globs and variables work, within a directory and with
// the environment, and a trailing comment does not swallow the wrapping.
// CaptureSh returns the trimmed output; a failing line is an error with
// its exit status.
func TestHostShShell(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := isolate(t, testConfig())
	var got string
	var failed error
	task := testTask("app:sh", func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			w := h.Within(dir).WithEnv("GREETING", "hello")
			if err := w.Sh(ctx, `mkdir -p tmp && touch tmp/a.txt tmp/b.txt && echo "$GREETING" > tmp/greeting # a comment`); err != nil {
				return err
			}
			var err error
			if got, err = w.CaptureSh(ctx, "ls tmp/*.txt | wc -l; cat tmp/greeting"); err != nil {
				return err
			}
			failed = w.Sh(ctx, "test -f tmp/a.txt && exit 3")
			return nil
		})
	})
	st := Stage{Name: "local", Servers: []Server{{Host: "localhost", Local: true}}}
	out, err := localRun(t, d, st, task, fixedClock(0)())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "tmp", "greeting")); err != nil || string(b) != "hello\n" {
		t.Errorf("tmp/greeting: %q, %v", b, err)
	}
	if fields := strings.Fields(got); len(fields) != 2 || fields[0] != "2" || fields[1] != "hello" {
		t.Errorf("CaptureSh = %q, want \"2\\nhello\"", got)
	}
	var ce *CommandError
	if !errors.As(failed, &ce) || ce.Status != 3 || !strings.Contains(failed.Error(), "test -f tmp/a.txt && exit 3") {
		t.Errorf("a failing line: %v", failed)
	}
}

// TestHostShDryRun: in a dry run the line is printed, not run, and an
// empty line is refused before anything runs.
func TestHostShDryRun(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	dialed := false
	var empty error
	task := testTask("app:touch", func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			empty = h.Sh(ctx, "  ")
			return h.Within(h.ReleasePath()).Sh(ctx, "touch tmp/restart.txt")
		})
	})
	console, log, err := operatorRun(t, d, testStage("deploy@web1"), task, []Option{WithDryRun(),
		WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) {
			dialed = true
			return nil, os.ErrInvalid
		})})
	if err != nil {
		t.Fatalf("%v\n%s", err, console)
	}
	if dialed {
		t.Errorf("a dry run connected")
	}
	if !strings.Contains(console, "01 touch tmp/restart.txt") || !strings.Contains(log, "Dry run, not running on deploy@web1: cd /srv/shop/current && ( touch tmp/restart.txt )") {
		t.Errorf("the dry run does not show the line:\n%s\n%s", console, log)
	}
	if empty == nil || !strings.Contains(empty.Error(), "deploy@web1: Sh: empty shell line") {
		t.Errorf("an empty line: %v", empty)
	}
}

// TestHostPaths: the release, current, shared and repo paths of a host
// in one call each, as Capistrano's release_path, current_path,
// shared_path and repo_path give them.
func TestHostPaths(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	d := isolate(t, cfg)
	got := map[string]string{}
	AfterIn(d, Updated, func(ctx context.Context) error {
		return On(ctx, Primary("app"), func(ctx context.Context, h *Host) error {
			got["release"], got["current"], got["shared"], got["repo"] = h.ReleasePath(), h.CurrentPath(), h.SharedPath(), h.RepoPath()
			return nil
		})
	})
	if _, out, err := recorderRun(t, d, testStage("deploy@web1"), Deploy, gitRules...); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	for k, want := range map[string]string{
		"release": "/srv/shop/releases/20261125214042",
		"current": "/srv/shop/current",
		"shared":  "/srv/shop/shared",
		"repo":    "/srv/shop/repo",
	} {
		if got[k] != want {
			t.Errorf("%s path = %q, want %q", k, got[k], want)
		}
	}
}

// TestStageAppendDeploys: the appended linked dir is created in shared/
// and linked into the release, and cleanup keeps the stage's number.
func TestStageAppendDeploys(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	st := testStage("deploy@web1")
	st.KeepReleases = 2
	st.AppendLinkedDirs = []string{"tmp/uploads"}
	var keep int
	AfterIn(d, Updated, func(ctx context.Context) error { keep = CurrentRun(ctx).Config.KeepReleases; return nil })
	rec, out, err := recorderRun(t, d, st, Deploy, gitRules...)
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	tr := transcript(rec)
	for _, w := range []string{"/srv/shop/shared/tmp/uploads", "ln -s /srv/shop/shared/tmp/uploads /srv/shop/releases/20261125214042/tmp/uploads"} {
		if !strings.Contains(tr, w) {
			t.Errorf("the transcript lacks %q:\n%s", w, tr)
		}
	}
	if keep != 2 {
		t.Errorf("KeepReleases in the run = %d, want 2", keep)
	}
}

// TestPrintTasks pins mage tasks: the standard tasks in the order the
// flows run them with the team tasks hung on them, deploy:failed, the
// standard tasks no flow runs, and the team tasks with their first
// sentence and where they hang. Function hooks are not tasks and are not
// listed.
func TestPrintTasks(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	noop := func(context.Context) error { return nil }
	migrate := d.NewTask("db:migrate", "Runs the migrations on the primary db server. Needs DATABASE_URL.", noop)
	restart := d.NewTask("app:restart", "Restarts the service.\nOne host at a time.", noop)
	drain := d.NewTask("lb:drain", "takes the host out of the load balancer", noop)
	d.NewTask("app:logs", "Shows the service's log", noop)
	AfterIn(d, Updated, migrate)
	AfterIn(d, Published, restart)
	AfterIn(d, Reverted, migrate)
	BeforeIn(d, restart, drain)
	AfterIn(d, Published, noop) // a function hook: mage flow shows it, mage tasks does not
	var b strings.Builder
	if err := d.PrintTasks(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "tasks.golden", b.String())
}

func TestFirstSentence(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"", ""},
		{"restarts the app", "restarts the app"},
		{"Restarts the app.", "Restarts the app."},
		{"Restarts the app. Then waits.", "Restarts the app."},
		{"Restarts the\n  app.\nThen waits.", "Restarts the app."},
		{"Serves v1.2 files.", "Serves v1.2 files."},
	} {
		if got := firstSentence(tc.doc); got != tc.want {
			t.Errorf("firstSentence(%q) = %q, want %q", tc.doc, got, tc.want)
		}
	}
}

// TestWithSecretFromEnv: the deployer's variable reaches the command on
// standard input under its own name, never on the command line, console
// or log; unset, the command fails without running, naming the variable
// and the host.
func TestWithSecretFromEnv(t *testing.T) {
	t.Parallel()
	const value = "postgres://orders:s3cr3t-pw@db1/orders"
	for _, tc := range []struct {
		name    string
		set     bool
		wantErr string
	}{
		{name: "set", set: true},
		{name: "unset", wantErr: "deploy@web1: ./bin/orders migrate up: secret DATABASE_URL_TEST: the environment variable is unset or empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The run's environment, not the process's (isolate gives
			// each Deployment its own).
			d := isolate(t, testConfig())
			if tc.set {
				setenv(d, "DATABASE_URL_TEST", value)
			}
			rec := backend.NewRecorder("")
			task := testTask("db:migrate", func(ctx context.Context) error {
				return On(ctx, All(), func(ctx context.Context, h *Host) error {
					return h.WithSecretFromEnv("DATABASE_URL_TEST").Execute(ctx, "./bin/orders", "migrate", "up")
				})
			})
			console, log, err := operatorRun(t, d, testStage("deploy@web1"), task,
				[]Option{WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) { return rec.ForHost(s.Host), nil })})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if len(rec.Log()) != 0 {
					t.Errorf("a command ran: %v", rec.Log())
				}
				if !strings.Contains(console, "✘ deploy@web1") {
					t.Errorf("the console does not say which host failed:\n%s", console)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, console)
			}
			cmds := rec.Log()
			if len(cmds) != 1 || !strings.Contains(cmds[0].Command, "IFS= read -r DATABASE_URL_TEST") || strings.Contains(cmds[0].Command, value) {
				t.Errorf("sent %q: want the value read from standard input", cmds)
			}
			if !strings.HasPrefix(cmds[0].Stdin, value+"\n") {
				t.Errorf("standard input %q does not carry the value", cmds[0].Stdin)
			}
			if strings.Contains(console+log, "s3cr3t-pw") {
				t.Errorf("the secret shows:\n%s\n%s", console, log)
			}
		})
	}
}

func TestTargetNameOf(t *testing.T) {
	for _, tc := range []struct{ fn, want string }{
		{"example.com/orders/stages.Staging", "staging"},
		{"example.com/orders/stages.QA", "qa"},
		{"main.Stage.Production", "stage:production"},
		{"example.com/orders/stages.Staging.func1", ""},
		{"example.com/orders/stages.(*Stage).Production", ""},
		{"example.com/orders/stages.staging", ""},
		{"testing.tRunner", ""},
		{"main.init.0", ""},
	} {
		if got := targetNameOf(tc.fn); got != tc.want {
			t.Errorf("targetNameOf(%q) = %q, want %q", tc.fn, got, tc.want)
		}
	}
}
