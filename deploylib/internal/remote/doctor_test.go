package remote

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, one command of a ;-list per
// line so that a diff shows what changed; -update rewrites the file.
func golden(t *testing.T, name, got string) {
	t.Helper()
	got = strings.ReplaceAll(got, " ; ", " ;\n") + "\n"
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file; run go test ./deploylib/internal/remote -update and review the diff\n--- got\n%s", name, got)
	}
}

// The doctor's probe, as sent, for the layouts and options that change it.
func TestDoctorProbeGolden(t *testing.T) {
	for _, tc := range []struct {
		golden      string
		deployTo    string
		linkedFiles []string
		git         *DoctorGit
	}{
		{"doctor_probe_git.golden", "/srv/shop", []string{"config/secrets.yml", "a b/.env"},
			&DoctorGit{RepoURL: "git@example.com:acme/shop.git", Branch: "main"}},
		{"doctor_probe_plain.golden", "/srv/my app", nil, nil},
		{"doctor_probe_hostile.golden", "/srv/$(id)", []string{"`reboot`", "x;y"},
			&DoctorGit{RepoURL: "https://example.com/$(id).git", Branch: "feature/'quote"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			golden(t, tc.golden, At(tc.deployTo).DoctorProbe(tc.linkedFiles, tc.git).String())
		})
	}
}

func TestDoctorPaths(t *testing.T) {
	for _, tc := range []struct {
		deployTo  string
		ancestors []string
	}{
		{"/srv/shop", []string{"/srv", "/"}},
		{"/shop", []string{"/"}},
		{"/home/deploy/apps/shop", []string{"/home/deploy/apps", "/home/deploy", "/home", "/"}},
		{"apps/shop", []string{"apps", "."}},
	} {
		l := At(tc.deployTo)
		if got := l.Ancestors(); !reflect.DeepEqual(got, tc.ancestors) {
			t.Errorf("At(%q).Ancestors() = %q, want %q", tc.deployTo, got, tc.ancestors)
		}
		want := append([]string{l.DeployTo, l.Releases(), l.Shared(), l.Current(), l.Repo()}, tc.ancestors...)
		if got := l.DoctorPaths(); !reflect.DeepEqual(got, want) {
			t.Errorf("At(%q).DoctorPaths() = %q, want %q", tc.deployTo, got, want)
		}
	}
}

func TestParseDoctorProbe(t *testing.T) {
	const df = "@df\nFilesystem     1024-blocks      Used Available Capacity Mounted on\n/dev/sda1        104857600 52428800  52428800      50% /srv\n"
	for _, tc := range []struct {
		name string
		out  string
		want DoctorFacts
	}{
		{
			name: "empty",
			out:  "",
			want: DoctorFacts{Paths: map[string]PathFacts{}, Free: -1},
		},
		{
			name: "healthy git host",
			out: "@user\ndeploy\n@paths\ne /srv/shop\nd /srv/shop\nw /srv/shop\ne /srv/shop/current\nd /srv/shop/current\nL /srv/shop/current\n" +
				"e /srv\nd /srv\n" + df + "@missing\n" +
				"@git\ngit version 2.39.2\n0123456789abcdef0123456789abcdef01234567\trefs/heads/main\n@git-ok\n",
			want: DoctorFacts{
				User: "deploy",
				Paths: map[string]PathFacts{
					"/srv/shop":         {Exists: true, Dir: true, Writable: true},
					"/srv/shop/current": {Exists: true, Dir: true, Link: true},
					"/srv":              {Exists: true, Dir: true},
				},
				Free: 52428800 * 1024, Mount: "/srv",
				GitChecked: true, GitOK: true,
				GitOutput: []string{"0123456789abcdef0123456789abcdef01234567\trefs/heads/main"},
			},
		},
		{
			name: "no git, missing files, path with spaces, mount with spaces",
			out: "@user\n\n@paths\ne /srv/my app\nd /srv/my app\nx /srv/ignored\nnonsense\n" +
				"@df\nFilesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sdb1 100 50 50 50% /mnt/my disk\n" +
				"@missing\nconfig/secrets.yml\n\na b/.env\n" +
				"@git\n@no-git\nsh: 1: git: not found\n@git-failed\n",
			want: DoctorFacts{
				Paths:      map[string]PathFacts{"/srv/my app": {Exists: true, Dir: true}},
				Free:       50 * 1024,
				Mount:      "/mnt/my disk",
				Missing:    []string{"config/secrets.yml", "a b/.env"},
				GitChecked: true, NoGit: true,
				GitOutput: []string{"sh: 1: git: not found"},
			},
		},
		{
			name: "unreadable df, git refused",
			out: "@user\nops\n@paths\n@df\ndf: /srv/shop: No such file or directory\n@missing\n" +
				"@git\ngit version 2.43.0\ngit@example.com: Permission denied (publickey).\nfatal: Could not read from remote repository.\n@git-failed\n",
			want: DoctorFacts{
				User: "ops", Paths: map[string]PathFacts{}, Free: -1,
				GitChecked: true,
				GitOutput:  []string{"git@example.com: Permission denied (publickey).", "fatal: Could not read from remote repository."},
			},
		},
		{
			name: "no git section",
			out:  "@user\ndeploy\n@paths\n" + df + "@missing\n",
			want: DoctorFacts{User: "deploy", Paths: map[string]PathFacts{}, Free: 52428800 * 1024, Mount: "/srv"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseDoctorProbe(tc.out); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseDoctorProbe:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// The probe, run for real with /bin/sh on a deploy_to whose name a shell
// would misread, reads back what is there, and changes nothing.
func TestDoctorProbeRuns(t *testing.T) {
	root := t.TempDir()
	deployTo := filepath.Join(root, "my app's $(dir)")
	l := At(deployTo)
	for _, d := range []string{l.Releases(), l.Release("20261125214042"), filepath.Join(l.Shared(), "config")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(l.Release("20261125214042"), l.Current()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.Shared(), "config", "secrets.yml"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(root, "source")
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is needed: %v", err)
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main", repo}, {"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "one"}} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}

	before := listTree(t, root)
	out, err := sh(t, l.DoctorProbe([]string{"config/secrets.yml", "config/$(missing).yml"}, &DoctorGit{RepoURL: repo, Branch: "main"}), "")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if after := listTree(t, root); !reflect.DeepEqual(before, after) {
		t.Errorf("the probe changed the tree:\nbefore %q\nafter  %q", before, after)
	}
	f := ParseDoctorProbe(out)
	if f.User == "" {
		t.Errorf("no user in\n%s", out)
	}
	for p, want := range map[string]PathFacts{
		deployTo:     {Exists: true, Dir: true, Writable: true},
		l.Releases(): {Exists: true, Dir: true, Writable: true},
		l.Shared():   {Exists: true, Dir: true, Writable: true},
		l.Current():  {Exists: true, Dir: true, Link: true, Writable: true},
		l.Repo():     {},
	} {
		if got := f.Path(p); got != want {
			t.Errorf("Path(%q) = %+v, want %+v", p, got, want)
		}
	}
	if f.Free <= 0 || f.Mount == "" {
		t.Errorf("free space %d on %q, want a positive amount and a mount point\n%s", f.Free, f.Mount, out)
	}
	if want := []string{"config/$(missing).yml"}; !reflect.DeepEqual(f.Missing, want) {
		t.Errorf("Missing = %q, want %q", f.Missing, want)
	}
	if !f.GitChecked || f.NoGit || !f.GitOK || len(f.GitOutput) != 1 || !strings.HasSuffix(f.GitOutput[0], "\trefs/heads/main") {
		t.Errorf("git facts = %+v\n%s", f, out)
	}

	// A branch that does not exist: git succeeds and prints nothing.
	out, _ = sh(t, l.DoctorProbe(nil, &DoctorGit{RepoURL: repo, Branch: "no-such-branch"}), "")
	if f := ParseDoctorProbe(out); !f.GitOK || len(f.GitOutput) != 0 {
		t.Errorf("missing branch: git facts = %+v\n%s", f, out)
	}
	// A repository that does not exist: git fails and says why.
	out, _ = sh(t, l.DoctorProbe(nil, &DoctorGit{RepoURL: filepath.Join(root, "nowhere"), Branch: "main"}), "")
	if f := ParseDoctorProbe(out); f.GitOK || len(f.GitOutput) == 0 {
		t.Errorf("missing repository: git facts = %+v\n%s", f, out)
	}
	// A deploy_to that does not exist yet: its nearest ancestor is asked.
	fresh := At(filepath.Join(root, "new", "app"))
	out, _ = sh(t, fresh.DoctorProbe(nil, nil), "")
	f = ParseDoctorProbe(out)
	if f.Path(fresh.DeployTo).Exists || !f.Path(root).Writable || f.Free <= 0 || f.GitChecked {
		t.Errorf("fresh deploy_to: facts = %+v\n%s", f, out)
	}
}

// listTree lists every path under root with its mode.
func listTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		out = append(out, p+" "+info.Mode().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
