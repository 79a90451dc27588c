package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
)

func testStage(hosts ...string) Stage {
	s := Stage{Name: "test"}
	for i, h := range hosts {
		s.Servers = append(s.Servers, Server{Host: h, Roles: []string{"app"}, Primary: i == 0})
	}
	return s
}

func testConfig() Config {
	return Config{Application: "shop", RepoURL: "git@example.com:acme/shop.git", DeployTo: "/srv/shop", Branch: "main",
		LinkedFiles: []string{"config/secrets.yml"}, LinkedDirs: []string{"log", "tmp/pids"}}
}

// gitRules answer the commands whose output drives the flow.
var gitRules = []backend.Rule{
	lockTaken(""),
	{Match: "ls-remote", Reply: backend.Reply{Stdout: "0123456789abcdef0123456789abcdef01234567\trefs/heads/main\n"}},
	{Match: "--format=%H %ct", Reply: backend.Reply{Stdout: "0123456789abcdef0123456789abcdef01234567 1795640000\n"}},
	{Match: "ls -1 /srv/shop/releases", Reply: backend.Reply{Stdout: "--capstan--\n--capstan--\n--capstan--\n"}},
}

// lockTaken answers the lock command as taken, with current pointing at
// previous ("" for none).
func lockTaken(previous string) backend.Rule {
	return backend.Rule{Match: "ln -sn lock.d-", Reply: backend.Reply{Stdout: remote.LockTaken + "\n" + previous + "\n"}}
}

// trace records the order in which tasks and hooks run.
type trace struct {
	mu    sync.Mutex
	steps []string
}

func (tr *trace) hook(name string) func(context.Context) error {
	return func(context.Context) error {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.steps = append(tr.steps, name)
		return nil
	}
}

func TestHooksRunInOrder(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	var tr trace
	BeforeIn(d, Updated, tr.hook("before-1"))
	BeforeIn(d, Updated, tr.hook("before-2"))
	AfterIn(d, Updated, tr.hook("after-1"))
	AfterIn(d, Updated, tr.hook("after-2"))
	BeforeIn(d, Publishing, tr.hook("before-publishing"))
	AfterIn(d, Finished, tr.hook("after-finished"))
	if _, out, err := recorderRun(t, d, testStage("web1"), Deploy, gitRules...); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	want := "before-1 before-2 after-1 after-2 before-publishing after-finished"
	if got := strings.Join(tr.steps, " "); got != want {
		t.Errorf("hooks ran as %q, want %q", got, want)
	}
}

func TestTaskRunsOncePerRun(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	var tr trace
	shared := d.NewTask("team:notify", "", tr.hook("notify"))
	AfterIn(d, Updated, shared)
	AfterIn(d, Published, shared) // already ran: skipped
	again := d.NewTask("team:again", "", func(ctx context.Context) error {
		tr.hook("again")(ctx)
		return Reinvoke(ctx, shared) // explicit re-invoke runs it again
	})
	AfterIn(d, Finished, again)
	if _, out, err := recorderRun(t, d, testStage("web1"), Deploy, gitRules...); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	if got := strings.Join(tr.steps, " "); got != "notify again notify" {
		t.Errorf("ran %q, want %q", got, "notify again notify")
	}
}

func TestFailureRunsFailedHooksAndNamesTaskAndHost(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	var tr trace
	AfterIn(d, Failed, tr.hook("failed"))
	AfterIn(d, Finished, tr.hook("never"))
	rec, out, err := recorderRun(t, d, testStage("web1", "web2"), Deploy, append([]backend.Rule{
		{Match: "ln -s /srv/shop/shared/log", Reply: backend.Reply{Status: 3, Stderr: "ln: disk on fire\n"}},
	}, gitRules...)...)
	if err == nil {
		t.Fatalf("deploy succeeded, want failure\n%s", out)
	}
	var te *TaskError
	if !errors.As(err, &te) || te.Task != "deploy:symlink:linked_dirs" {
		t.Errorf("error %v does not name deploy:symlink:linked_dirs", err)
	}
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Status != 3 {
		t.Fatalf("error %v is not a CommandError with status 3", err)
	}
	for _, want := range []string{"web1", "web2", "exit status 3", "ln: disk on fire", "ln -s /srv/shop/shared/log"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if got := strings.Join(tr.steps, " "); got != "failed" {
		t.Errorf("hooks ran %q, want only the failure hook", got)
	}
	// The half-built release is removed on both hosts, and only if the
	// marker says this run made it.
	var removed int
	for _, c := range rec.Log() {
		if strings.Contains(c.Command, "&& exit 0; done") && strings.Contains(c.Command, "rm -rf /srv/shop/releases/20261125214042") {
			removed++
		}
	}
	if removed != 2 {
		t.Errorf("half-built release removed on %d hosts, want 2", removed)
	}
	if !strings.Contains(out, "DEPLOY FAILED") {
		t.Errorf("console has no DEPLOY FAILED block:\n%s", out)
	}
}

func TestFailedHooksRunForRollback(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	var tr trace
	AfterIn(d, Failed, tr.hook("failed"))
	_, _, err := recorderRun(t, d, testStage("web1"), Rollback, gitRules...)
	if !errors.Is(err, ErrNoPreviousRelease) {
		t.Fatalf("rollback error = %v, want ErrNoPreviousRelease", err)
	}
	if got := strings.Join(tr.steps, " "); got != "failed" {
		t.Errorf("hooks ran %q, want the failure hook", got)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	good := testConfig()
	tests := []struct {
		name  string
		cfg   func(*Config)
		stage Stage
		setup func(*Deployment)
		want  string
	}{
		{"empty deploy_to", func(c *Config) { c.DeployTo = "" }, testStage("web1"), nil, "DeployTo is empty"},
		{"root deploy_to", func(c *Config) { c.DeployTo = "/" }, testStage("web1"), nil, "deploying into /"},
		{"relative deploy_to", func(c *Config) { c.DeployTo = "srv/shop" }, testStage("web1"), nil, "not an absolute path"},
		{"keep_releases", func(c *Config) { c.KeepReleases = -1 }, testStage("web1"), nil, "KeepReleases is -1"},
		{"no servers", nil, Stage{Name: "empty"}, nil, "stage empty has no servers"},
		{"bad host", nil, testStage("web1;reboot"), nil, "invalid character"},
		{"option branch", func(c *Config) { c.Branch = "--upload-pack=touch /tmp/pwned" }, testStage("web1"), nil, "would be read as an option"},
		{"ext url", func(c *Config) { c.RepoURL = "ext::sh -c touch% /tmp/pwned" }, testStage("web1"), nil, "remote helper"},
		{"linked file escapes", func(c *Config) { c.LinkedFiles = []string{"../etc/passwd"} }, testStage("web1"), nil, "leaves the release"},
		{"unreachable hook", nil, testStage("web1"), func(d *Deployment) {
			AfterIn(d, d.NewTask("team:orphan", "", nil), func(context.Context) error { return nil })
		}, "team:orphan, which no flow runs"},
		{"hosts filter", nil, testStage("web1"), func(d *Deployment) { setenv(d, "HOSTS", "web9") }, "HOSTS=web9 matches no server"},
		{"roles filter", nil, testStage("web1"), func(d *Deployment) { setenv(d, "ROLES", "db") }, "ROLES=db matches no server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			d := isolate(t, cfg)
			if tt.setup != nil {
				tt.setup(d)
			}
			rec, _, err := recorderRun(t, d, tt.stage, Deploy)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
			if n := len(rec.Log()); n != 0 {
				t.Errorf("%d commands ran; bad input must change nothing", n)
			}
		})
	}
}

func TestStageSelection(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	if _, err := d.snapshot().selectedStage(); err == nil || !strings.Contains(err.Error(), "no stage selected") {
		t.Errorf("no stage: error = %v", err)
	}
	d.UseStage(testStage("web1"))
	if s, err := d.snapshot().selectedStage(); err != nil || s.Name != "test" {
		t.Errorf("one stage: %v, %v", s.Name, err)
	}
	d.UseStage(Stage{Name: "staging"})
	if _, err := d.snapshot().selectedStage(); err == nil || !strings.Contains(err.Error(), "two stages selected (test and staging)") {
		t.Errorf("two stages: error = %v", err)
	}
	err := d.Start(context.Background(), Deploy, WithOutput(new(strings.Builder)))
	if err == nil || !strings.Contains(err.Error(), "two stages") {
		t.Errorf("Start with two stages: %v", err)
	}
}

func TestRolesAndFilters(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	st := Stage{Name: "prod", Servers: []Server{
		{Host: "deploy@web1:2222", Roles: []string{"app", "web"}},
		{Host: "deploy@web2", Roles: []string{"app", "web"}},
		{Host: "deploy@db1", Roles: []string{"db"}, NoRelease: true},
		{Host: "deploy@db2", Roles: []string{"db"}, Primary: true, NoRelease: true},
	}}
	setenv(d, "ROLES", "web,db")
	setenv(d, "HOSTS", "web2,db1,db2")
	var mu sync.Mutex
	var seen []string
	check := d.NewTask("team:roles", "", func(ctx context.Context) error {
		for _, sel := range []struct {
			name string
			sel  Selector
		}{{"db", Roles("db")}, {"primary", Primary("db")}, {"release", ReleaseHosts()}, {"none", Roles("mail")}} {
			On(ctx, sel.sel, func(ctx context.Context, h *Host) error {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, sel.name+"="+h.Name())
				return nil
			}, InSequence(0))
		}
		return nil
	})
	BeforeIn(d, Check, check)
	_, out, err := recorderRun(t, d, st, Check, gitRules...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got, want := strings.Join(seen, " "), "db=db1 db=db2 primary=db2 release=web2"; got != want {
		t.Errorf("selected %q, want %q", got, want)
	}
}

func TestOnCollectsErrorsFromEveryHost(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	boom := d.NewTask("team:boom", "", func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			if h.Name() == "web2" {
				return nil
			}
			return h.Execute(ctx, "false")
		})
	})
	BeforeIn(d, Check, boom)
	_, _, err := recorderRun(t, d, testStage("web1", "web2", "web3"), Check, backend.Rule{Match: "false", Reply: backend.Reply{Status: 1}})
	if err == nil {
		t.Fatal("no error")
	}
	// The same command failed the same way on two hosts: said once.
	for _, h := range []string{"web1, web3: false: exit status 1"} {
		if !strings.Contains(err.Error(), h) {
			t.Errorf("error lacks %q: %v", h, err)
		}
	}
	if strings.Contains(err.Error(), "web2") {
		t.Errorf("error mentions web2, which succeeded: %v", err)
	}
}
