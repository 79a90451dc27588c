package acceptance_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// sshStage returns a stage whose servers are the lab's hosts, the first
// two with roles app and web, the rest db.
func sshStage(l *lab.Lab) deploylib.Stage {
	st := deploylib.Stage{
		Name: "lab",
		SSH: deploylib.SSHOptions{
			KnownHostsFile: l.KnownHosts,
			KnownHostsOnly: true,
			IdentityFiles:  []string{l.ClientKey},
			ConfigFile:     "none",
		},
	}
	for i, h := range l.Hosts {
		roles := []string{"app", "web"}
		if i >= 2 {
			roles = []string{"app", "db"}
		}
		st.Servers = append(st.Servers, deploylib.Server{Host: l.User + "@" + h.Addr, Roles: roles, Primary: i == 0})
	}
	return st
}

// prepareShared creates shared/config/secrets.yml on every host, owned by
// the login user.
func prepareShared(t *testing.T, l *lab.Lab) {
	t.Helper()
	u, err := user.Lookup(l.User)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, h := range l.Hosts {
		dirs := []string{"app", "app/shared", "app/shared/config"}
		for _, d := range dirs {
			p := filepath.Join(h.Root, d)
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			os.Chown(p, uid, gid)
		}
		f := filepath.Join(h.Root, "app/shared/config/secrets.yml")
		os.WriteFile(f, []byte("secret of "+h.Name+"\n"), 0o600)
		os.Chown(f, uid, gid)
	}
}

// configure sets the configuration the lab tests deploy with; edits
// change it.
func configure(t *testing.T, l *lab.Lab, edits ...func(*deploylib.Config)) *deploylib.Deployment {
	t.Helper()
	l.RequireSharedDeployTo(t)
	cfg := deploylib.Config{
		Application: "app",
		RepoURL:     l.Repo,
		DeployTo:    l.Hosts[0].DeployTo,
		LinkedFiles: []string{"config/secrets.yml"},
		LinkedDirs:  []string{"log"},
	}
	for _, e := range edits {
		e(&cfg)
	}
	d := deploylib.NewDeployment()
	d.Configure(cfg)
	for _, k := range []string{"HOSTS", "ROLES", "ROLLBACK_RELEASE", "DRY_RUN", "BRANCH"} {
		t.Setenv(k, "")
	}
	t.Setenv("USER", "alice")
	return d
}

func start(t *testing.T, d *deploylib.Deployment, st deploylib.Stage, task *deploylib.Task, at time.Time) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := d.Start(context.Background(), task, deploylib.WithStage(st), deploylib.WithOutput(&out),
		deploylib.WithColor(false), deploylib.WithClock(func() time.Time { return at }))
	return out.String(), err
}

func link(t *testing.T, p string) string {
	t.Helper()
	l, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestSSHDeployAndRollbackThreeHosts(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 3})
	d := configure(t, l)
	prepareShared(t, l)
	st := sshStage(l)
	t0 := time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)

	logins := func() []int {
		var n []int
		for _, h := range l.Hosts {
			n = append(n, strings.Count(h.Log(), "Accepted publickey"))
		}
		return n
	}
	before := logins()
	if out, err := start(t, d, st, deploylib.Deploy, t0); err != nil {
		t.Fatalf("first deploy: %v\n%s", err, out)
	}
	after := logins()
	for i := range l.Hosts {
		if after[i]-before[i] != 1 {
			t.Errorf("%s: %d SSH connections for one deploy, want 1", l.Hosts[i].Name, after[i]-before[i])
		}
	}
	if out, err := start(t, d, st, deploylib.Deploy, t0.Add(4*time.Second)); err != nil {
		t.Fatalf("second deploy: %v\n%s", err, out)
	}
	head := l.Commits[len(l.Commits)-1]
	for _, h := range l.Hosts {
		local := filepath.Join(h.Root, "app")
		if got, want := link(t, filepath.Join(local, "current")), h.DeployTo+"/releases/20261125214042"; got != want {
			t.Errorf("%s: current -> %s, want %s", h.Name, got, want)
		}
		rev, _ := os.ReadFile(filepath.Join(local, "releases/20261125214042/REVISION"))
		if string(rev) != head+"\n" {
			t.Errorf("%s: REVISION %q, want %s", h.Name, rev, head)
		}
		if got, want := link(t, filepath.Join(local, "releases/20261125214042/config/secrets.yml")), h.DeployTo+"/shared/config/secrets.yml"; got != want {
			t.Errorf("%s: config/secrets.yml -> %s, want %s", h.Name, got, want)
		}
		if _, err := os.Stat(filepath.Join(local, "repo/HEAD")); err != nil {
			t.Errorf("%s: no mirror: %v", h.Name, err)
		}
	}

	if out, err := start(t, d, st, deploylib.Rollback, t0.Add(8*time.Second)); err != nil {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	for _, h := range l.Hosts {
		local := filepath.Join(h.Root, "app")
		if got, want := link(t, filepath.Join(local, "current")), h.DeployTo+"/releases/20261125214038"; got != want {
			t.Errorf("%s: after rollback current -> %s, want %s", h.Name, got, want)
		}
		log, _ := os.ReadFile(filepath.Join(local, "revisions.log"))
		want := "Branch main (at " + head + ") deployed as release 20261125214038 by alice\n" +
			"Branch main (at " + head + ") deployed as release 20261125214042 by alice\n" +
			"alice rolled back to release 20261125214038\n"
		if string(log) != want {
			t.Errorf("%s: revisions.log:\n%s\nwant:\n%s", h.Name, log, want)
		}
		if _, err := os.Stat(filepath.Join(local, "rolled-back-release-20261125214042.tar.gz")); err != nil {
			t.Errorf("%s: %v", h.Name, err)
		}
	}
}

func TestSSHFilters(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 3})
	d := configure(t, l)
	prepareShared(t, l)
	st := sshStage(l)
	t0 := time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)

	t.Setenv("HOSTS", l.Hosts[1].Addr)
	if out, err := start(t, d, st, deploylib.Deploy, t0); err != nil {
		t.Fatalf("HOSTS deploy: %v\n%s", err, out)
	}
	t.Setenv("HOSTS", "")
	t.Setenv("ROLES", "db")
	if out, err := start(t, d, st, deploylib.Deploy, t0.Add(4*time.Second)); err != nil {
		t.Fatalf("ROLES deploy: %v\n%s", err, out)
	}
	want := map[string]string{
		"host1": "",
		"host2": "20261125214038",
		"host3": "20261125214042",
	}
	for _, h := range l.Hosts {
		got, _ := os.Readlink(filepath.Join(h.Root, "app/current"))
		if filepath.Base(got) != want[h.Name] && !(got == "" && want[h.Name] == "") {
			t.Errorf("%s: current -> %q, want release %q", h.Name, got, want[h.Name])
		}
	}
	t.Setenv("ROLES", "mail")
	if _, err := start(t, d, st, deploylib.Deploy, t0.Add(8*time.Second)); err == nil || !strings.Contains(err.Error(), "ROLES=mail matches no server") {
		t.Errorf("ROLES=mail: %v", err)
	}
}

func TestSSHCommandFailureNamesHostCommandStatusAndStderr(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 2})
	d := configure(t, l)
	st := sshStage(l)
	t.Setenv("HOSTS", l.Hosts[1].Addr)
	task := d.NewTask("lab:fail", "", func(ctx context.Context) error {
		return deploylib.On(ctx, deploylib.All(), func(ctx context.Context, h *deploylib.Host) error {
			return h.Execute(ctx, "sh", "-c", "echo working; echo 'disk on fire' >&2; exit 7")
		})
	})
	_, err := start(t, d, st, task, time.Now())
	var ce *deploylib.CommandError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a CommandError", err)
	}
	if ce.Status != 7 || !strings.Contains(ce.Host, "127.0.0.1") || !strings.Contains(ce.Stderr, "disk on fire") {
		t.Errorf("CommandError = %+v", ce)
	}
	for _, want := range []string{"exit status 7", "disk on fire", "sh -c", "lab:fail", l.User + "@127.0.0.1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestSSHUnknownHostKeyRefusedBeforeAnythingRuns(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 1})
	d := configure(t, l)
	st := sshStage(l)
	st.SSH.KnownHostsFile = filepath.Join(t.TempDir(), "empty_known_hosts")
	out, err := start(t, d, st, deploylib.Deploy, time.Now())
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "unknown") {
		t.Fatalf("deploy with unknown host key: %v\n%s", err, out)
	}
	if strings.Contains(l.Hosts[0].Log(), "Accepted publickey") {
		t.Errorf("the client logged in despite the unknown host key")
	}
	if _, err := os.Stat(filepath.Join(l.Hosts[0].Root, "app/releases")); !os.IsNotExist(err) {
		t.Errorf("something was created: %v", err)
	}
}
