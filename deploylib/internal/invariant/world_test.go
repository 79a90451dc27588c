//go:build unix

package invariant

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// world is one scenario's lab: its hosts, the repository, the build
// directory of the upload strategies, and what the team put on the hosts
// (shared files, junk in releases/, the sentinel tree around deploy_to).
type world struct {
	t        *testing.T
	sc       Scenario
	l        *lab.Lab
	st       deploylib.Stage
	cfg      deploylib.Config
	work     string // the repository's work tree (upload strategies)
	bare     string // its bare clone (the git strategy's RepoURL)
	build    string // the upload directory as configured
	sha      string // the commit of sc.Branch
	uid, gid int
	clock    time.Time
	dead     map[int]bool // hosts lost (index)
	// team lists the files the team owns under deploy_to (shared/ and the
	// junk in releases/), with their content; they must never change.
	team map[string]string
	// manual is the hand-made release the team pointed current at, if any.
	manual string
	// unpublished are the releases that may stay marked unfinished with
	// no run alive, and why (parked, stuck); see checkUnpublished.
	unpublished map[string]string
}

// newWorld starts the lab of sc and prepares the hosts and the repository.
// suiteNeedsRoot says why the suite needs root: private mount namespaces
// give each host its own /srv.
const suiteNeedsRoot = "the invariant suite (private mount namespaces give each host its own /srv)"

func newWorld(t *testing.T, sc Scenario) *world {
	t.Helper()
	lab.RequireRoot(t, suiteNeedsRoot)
	l := lab.Start(t, lab.Options{Hosts: sc.Hosts})
	if l.Hosts[0].DeployTo != "/srv/app" {
		t.Fatal("the lab's hosts have no private /srv (no mount namespaces)")
	}
	u, err := user.Lookup(l.User)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, sc: sc, l: l, clock: time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC), dead: map[int]bool{}, team: map[string]string{}}
	w.uid, _ = strconv.Atoi(u.Uid)
	w.gid, _ = strconv.Atoi(u.Gid)
	w.makeRepo()
	w.st = deploylib.Stage{
		Name: "lab",
		SSH: deploylib.SSHOptions{
			KnownHostsFile: l.KnownHosts,
			KnownHostsOnly: true,
			IdentityFiles:  []string{l.ClientKey},
			ConfigFile:     "none",
		},
	}
	for i, h := range l.Hosts {
		w.st.Servers = append(w.st.Servers, deploylib.Server{Host: l.User + "@" + h.Addr, Roles: []string{"app"}, Primary: i == 0})
	}
	w.cfg = deploylib.Config{
		Application:  "app",
		RepoURL:      w.bare,
		Branch:       sc.Branch,
		DeployTo:     sc.DeployTo,
		KeepReleases: sc.KeepReleases,
		LinkedFiles:  sc.LinkedFiles,
		LinkedDirs:   sc.LinkedDirs,
		Strategy:     w.strategy(),
	}
	for _, h := range l.Hosts {
		w.prepareHost(h)
	}
	return w
}

func (w *world) strategy() deploylib.Strategy {
	switch w.sc.Strategy {
	case GitShallow:
		return deploylib.Git{ShallowClone: 1, MaxConcurrent: 1}
	case UploadArchive:
		return deploylib.Upload{Repo: w.work}
	case UploadDir, UploadEmpty, UploadSymlink:
		return deploylib.Upload{Dir: w.build, Repo: w.work}
	}
	return deploylib.Git{}
}

// makeRepo writes the scenario's tree as one commit on its branch (a work
// tree with the branch checked out, and a bare clone), and the upload
// directory.
func (w *world) makeRepo() {
	t := w.t
	w.work = filepath.Join(w.l.Dir, "inv-src")
	w.bare = filepath.Join(w.l.Dir, "inv-app.git")
	if err := writeTree(w.work, w.sc.Files, w.sc.Symlinks); err != nil {
		t.Fatal(err)
	}
	git := func(dir string, args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HOME="+w.l.Dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME=Lab", "GIT_AUTHOR_EMAIL=lab@capstan.invalid", "GIT_COMMITTER_NAME=Lab", "GIT_COMMITTER_EMAIL=lab@capstan.invalid",
			"GIT_AUTHOR_DATE=2026-01-02T12:00:00Z", "GIT_COMMITTER_DATE=2026-01-02T12:00:00Z")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git(w.work, "init", "--quiet", "--initial-branch=main")
	git(w.work, "add", "-A")
	git(w.work, "commit", "--quiet", "-m", "the app")
	if w.sc.Branch != "main" {
		git(w.work, "checkout", "--quiet", "-b", w.sc.Branch)
	}
	w.sha = git(w.work, "rev-parse", "HEAD")
	git(w.l.Dir, "clone", "--quiet", "--bare", w.work, w.bare)
	switch w.sc.Strategy {
	case UploadDir, UploadSymlink:
		dir := filepath.Join(w.l.Dir, "build")
		if err := writeTree(dir, w.sc.Files, w.sc.Symlinks); err != nil {
			t.Fatal(err)
		}
		w.build = dir
		if w.sc.Strategy == UploadSymlink {
			w.build = filepath.Join(w.l.Dir, "build-link")
			if err := os.Symlink(dir, w.build); err != nil {
				t.Fatal(err)
			}
		}
	case UploadEmpty:
		w.build = filepath.Join(w.l.Dir, "build-empty")
		if err := os.Mkdir(w.build, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// writeTree writes files (bin/ ones executable) and symlinks under dir.
func writeTree(dir string, files, symlinks map[string]string) error {
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(p, "bin/") {
			mode = 0o755
		}
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			return err
		}
	}
	for p, target := range symlinks {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(target, full); err != nil {
			return err
		}
	}
	return nil
}

// path returns the local path of p (absolute on the host, under /srv) on
// host h: the lab bind-mounts h.Root as the host's /srv.
func (w *world) path(h *lab.Host, p string) string {
	return filepath.Join(h.Root, strings.TrimPrefix(p, "/srv"))
}

// app returns the local path of rel under deploy_to on h.
func (w *world) app(h *lab.Host, rel string) string {
	return w.path(h, filepath.Join(w.sc.DeployTo, rel))
}

// prepareHost creates what the team has on a host before the first
// deploy: deploy_to, shared/ with the linked files and a file in every
// linked dir, the junk in releases/, and the sentinel tree around
// deploy_to (outside it, owned by the deploy user, so a stray rm -rf
// could remove it).
func (w *world) prepareHost(h *lab.Host) {
	t := w.t
	write := func(local, content string) {
		if err := w.mkdirAll(filepath.Dir(local), h.Root); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(local, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chown(local, w.uid, w.gid)
	}
	if err := w.mkdirAll(w.app(h, "shared"), h.Root); err != nil {
		t.Fatal(err)
	}
	for _, f := range w.sc.LinkedFiles {
		rel := filepath.Join("shared", f)
		content := "team's " + f + "\n"
		write(w.app(h, rel), content)
		w.team[rel] = content
	}
	for _, d := range w.sc.LinkedDirs {
		rel := filepath.Join("shared", d, "team-data.txt")
		content := "team's data in " + d + "\n"
		write(w.app(h, rel), content)
		w.team[rel] = content
	}
	if w.sc.Junk {
		for _, name := range []string{"20261125214038.bak", "new", "a b"} {
			rel := filepath.Join("releases", name, "keep.txt")
			write(w.app(h, rel), "junk "+name+"\n")
			w.team[rel] = "junk " + name + "\n"
		}
		if err := os.Symlink("/srv/outside", w.app(h, "releases/evil")); err != nil {
			t.Fatal(err)
		}
		os.Lchown(w.app(h, "releases/evil"), w.uid, w.gid)
	}
	// The sentinel tree: outside deploy_to, where a committed symlink
	// points (storage -> /srv/outside/storage) and beside deploy_to.
	for _, p := range []string{
		"/srv/outside/storage/cache/precious.txt", "/srv/outside/storage/keep.txt", "/srv/outside/config/secrets.yml",
		w.sc.DeployTo + ".old/keep.txt", filepath.Dir(w.sc.DeployTo) + "/neighbour.txt",
	} {
		write(w.path(h, p), "sentinel "+p+"\n")
	}
}

// mkdirAll makes dir and its missing parents below root, owned by the
// deploy user.
func (w *world) mkdirAll(dir, root string) error {
	if _, err := os.Lstat(dir); err == nil {
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir && len(parent) > len(root) {
		if err := w.mkdirAll(parent, root); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	return os.Chown(dir, w.uid, w.gid)
}

// next advances the clock by op's seconds and returns the time of the op.
func (w *world) next(op Op) time.Time {
	w.clock = w.clock.Add(time.Duration(op.Advance) * time.Second)
	return w.clock
}

// hostOf returns the lab host of a server.
func (w *world) hostOf(s deploylib.Server) (int, *lab.Host) {
	for i, h := range w.l.Hosts {
		if strings.HasSuffix(s.Host, "@"+h.Addr) {
			return i, h
		}
	}
	w.t.Fatalf("no lab host for %s", s.Host)
	return -1, nil
}

var releaseName = regexp.MustCompile(`^[0-9]{14}$`)

// hostView is what one host's disk holds, read directly (not through the
// tool under test).
type hostView struct {
	Name       string
	Current    string // where current points; "" if absent
	CurrentBad string // current exists but is not a symlink
	Releases   map[string]releaseView
	Unfinished map[string]string // marker name -> content
	Locked     bool
	Lock       string
	Leftovers  []string // entries of .capstan/ other than lock and unfinished
	RevLog     string
	RevLogErr  error
	Team       map[string]string // team file -> what is wrong with it ("" when intact)
	Outside    map[string]string // sentinel tree: path -> digest
}

// releaseView is one entry of releases/.
type releaseView struct {
	Dir, Symlink bool
	Revision     string // content of REVISION, "" if missing
	Content      string // digest of the tree (see treeDigest)
}

// view reads host h.
func (w *world) view(h *lab.Host) hostView {
	v := hostView{Name: h.Name, Releases: map[string]releaseView{}, Unfinished: map[string]string{}, Team: map[string]string{}}
	cur := w.app(h, "current")
	if fi, err := os.Lstat(cur); err == nil {
		if fi.Mode()&fs.ModeSymlink != 0 {
			v.Current, _ = os.Readlink(cur)
		} else {
			v.CurrentBad = fi.Mode().String()
		}
	}
	ents, _ := os.ReadDir(w.app(h, "releases"))
	for _, e := range ents {
		p := w.app(h, "releases/"+e.Name())
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		rv := releaseView{Dir: fi.IsDir(), Symlink: fi.Mode()&fs.ModeSymlink != 0}
		if rv.Dir {
			if b, err := os.ReadFile(filepath.Join(p, "REVISION")); err == nil {
				rv.Revision = string(b)
			}
		}
		v.Releases[e.Name()] = rv
	}
	ents, _ = os.ReadDir(w.app(h, ".capstan/unfinished"))
	for _, e := range ents {
		b, _ := os.ReadFile(w.app(h, ".capstan/unfinished/"+e.Name()))
		v.Unfinished[e.Name()] = strings.TrimSpace(string(b))
	}
	ents, _ = os.ReadDir(w.app(h, ".capstan"))
	for _, e := range ents {
		switch e.Name() {
		case "unfinished":
		case "lock":
			v.Locked = true
			b, _ := os.ReadFile(w.app(h, ".capstan/lock/details"))
			v.Lock = string(b)
		default:
			v.Leftovers = append(v.Leftovers, ".capstan/"+e.Name())
		}
	}
	b, err := os.ReadFile(w.app(h, "revisions.log"))
	v.RevLog, v.RevLogErr = string(b), err
	for rel, want := range w.team {
		v.Team[rel] = teamFileProblem(w.app(h, ""), rel, want)
	}
	v.Outside = w.outside(h)
	return v
}

// teamFileProblem says what is wrong with the team's file rel under base:
// every element of its path must be a real directory (not a symlink
// somewhere else), and the file must hold want.
func teamFileProblem(base, rel, want string) string {
	parts := strings.Split(rel, "/")
	p := base
	for i, part := range parts {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if err != nil {
			return "missing (" + filepath.Join(parts[:i+1]...) + " is gone)"
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			return filepath.Join(parts[:i+1]...) + " became a symlink to " + target
		}
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return err.Error()
	}
	if string(b) != want {
		return fmt.Sprintf("content changed to %q", b)
	}
	return ""
}

// outside digests every entry of the host's /srv outside deploy_to: the
// sentinel tree, deploy_to's parents and neighbours, and anything a
// hostile name would create there (/srv/pwned-inv-*).
func (w *world) outside(h *lab.Host) map[string]string {
	out := map[string]string{}
	skip := w.path(h, w.sc.DeployTo)
	filepath.WalkDir(h.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			out[p] = "error " + err.Error()
			return nil
		}
		if p == skip || p == w.path(h, hookLogDir) {
			return filepath.SkipDir // deploy_to, and the test's own hook log
		}
		rel := "/srv" + strings.TrimPrefix(p, h.Root)
		out[rel] = entryDigest(p, d)
		return nil
	})
	return out
}

// entryDigest describes one file system entry: type, and content or
// target.
func entryDigest(p string, d fs.DirEntry) string {
	switch {
	case d.Type()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(p)
		return "symlink " + target
	case d.IsDir():
		return "dir"
	default:
		b, _ := os.ReadFile(p)
		sum := sha256.Sum256(b)
		return "file " + hex.EncodeToString(sum[:8])
	}
}

// tree lists a release's entries (relative path -> entryDigest), without
// descending into symlinks.
func tree(dir string) map[string]string {
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = entryDigest(p, d)
		return nil
	})
	return out
}

// localCanaries lists /srv/pwned-inv-* on this machine (a hostile name
// run by a local shell, for instance by the upload strategy's git).
func localCanaries() []string {
	m, _ := filepath.Glob("/srv/pwned-inv-*")
	return m
}
