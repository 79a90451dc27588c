package remote

import (
	"math"
	"path"
	"strconv"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Lines of the doctor's probe that start a section or report an outcome.
const (
	probeUser      = "@user"
	probePaths     = "@paths"
	probeDisk      = "@df"
	probeMissing   = "@missing"
	probeGit       = "@git"
	probeNoGit     = "@no-git"
	probeGitOK     = "@git-ok"
	probeGitFailed = "@git-failed"
)

// The letters of the probe's @paths section: the test(1) flag that held
// for a path.
var probeFlags = []string{"e", "d", "L", "w"}

// DoctorGit is the repository and branch whose access the doctor's probe
// checks from the host (the git strategy).
type DoctorGit struct {
	RepoURL string
	Branch  string
}

// DoctorProbe gathers, in one command that changes nothing and always
// succeeds, what deploy:check reads on a host: the login user; for
// deploy_to, its directories and its ancestors, whether each exists, is a
// directory, a symlink, is writable; the free space where deploy_to is
// (or would be created); the linked files missing from shared/; and, when
// git is not nil, whether the host has git and can list branch in the
// repository. Each section starts with a line of its own; [ParseDoctorProbe]
// reads the output.
func (l Layout) DoctorProbe(linkedFiles []string, git *DoctorGit) shell.Command {
	cmd := echo(probeUser).Then(shell.New("id", "-un"))
	cmd = cmd.Then(echo(probePaths))
	for _, p := range l.DoctorPaths() {
		for _, f := range probeFlags {
			cmd = cmd.Then(shell.New("test", "-"+f, p)).And(shell.New("echo", f, p))
		}
	}
	// df of a path that does not exist fails: ask the nearest ancestor.
	cmd = cmd.Then(echo(probeDisk))
	var df shell.Command
	for _, p := range append([]string{l.DeployTo}, l.Ancestors()...) {
		step := shell.New("df", "-Pk", p).Quiet()
		if df.IsZero() {
			df = step
		} else {
			df = df.Or(step)
		}
	}
	cmd = cmd.Then(df)
	cmd = cmd.Then(echo(probeMissing))
	for _, f := range linkedFiles {
		cmd = cmd.Then(shell.New("test", "-f", path.Join(l.Shared(), f))).Or(shell.New("echo", f))
	}
	if git != nil {
		cmd = cmd.Then(echo(probeGit)).
			Then(shell.New("git", "--version").Quiet()).Or(echo(probeNoGit)).
			Then(GitCheck(git.RepoURL, git.Branch).StderrToStdout().And(echo(probeGitOK)).Or(echo(probeGitFailed)))
	}
	return cmd.Then(shell.New("true"))
}

func echo(line string) shell.Command { return shell.New("echo", line) }

// DoctorPaths are the paths whose state [Layout.DoctorProbe] reads:
// deploy_to, its releases, shared, current and repo, then its ancestors.
func (l Layout) DoctorPaths() []string {
	return append([]string{l.DeployTo, l.Releases(), l.Shared(), l.Current(), l.Repo()}, l.Ancestors()...)
}

// Ancestors returns the directories above deploy_to, nearest first, up to
// / (or . for a relative deploy_to).
func (l Layout) Ancestors() []string {
	var out []string
	for d := path.Dir(l.DeployTo); ; d = path.Dir(d) {
		out = append(out, d)
		if d == "/" || d == "." {
			return out
		}
	}
}

// PathFacts is what the probe found about one path. The zero value is a
// path that does not exist.
type PathFacts struct {
	Exists   bool // test -e: it exists (a dangling symlink does not)
	Dir      bool // test -d: it is a directory, or a symlink to one
	Link     bool // test -L: it is a symlink
	Writable bool // test -w: the login user may write it
}

// DoctorFacts is what [Layout.DoctorProbe] reports about a host.
type DoctorFacts struct {
	// User is the login user, "" when id -un printed nothing.
	User string
	// Paths holds the state of each path of [Layout.DoctorPaths] that
	// exists or is a symlink; a path absent from it does not exist.
	Paths map[string]PathFacts
	// Free is the space available, in bytes, on the file system that
	// holds deploy_to or its nearest existing ancestor; -1 when df said
	// nothing readable.
	Free int64
	// Mount is where that file system is mounted.
	Mount string
	// Missing are the linked files absent from shared/, as configured.
	Missing []string
	// GitChecked says the probe had a git section.
	GitChecked bool
	// NoGit says git --version failed: git is not installed.
	NoGit bool
	// GitOK says git ls-remote succeeded.
	GitOK bool
	// GitOutput are the lines git ls-remote printed (standard output and
	// error): the matching refs when it succeeded, else why it failed.
	GitOutput []string
}

// Path returns what the probe found about p; the zero value when it does
// not exist.
func (f DoctorFacts) Path(p string) PathFacts { return f.Paths[p] }

// ParseDoctorProbe reads the output of [Layout.DoctorProbe]. Lines it does
// not expect are left out; a section that is missing leaves its fields at
// their zero value (Free at -1).
func ParseDoctorProbe(out string) DoctorFacts {
	f := DoctorFacts{Paths: map[string]PathFacts{}, Free: -1}
	section := ""
	for _, line := range strings.Split(out, "\n") {
		switch line {
		case probeUser, probePaths, probeDisk, probeMissing, probeGit:
			section = line
			f.GitChecked = f.GitChecked || line == probeGit
			continue
		case probeNoGit:
			f.NoGit = true
			continue
		case probeGitOK:
			f.GitOK = true
			continue
		case probeGitFailed:
			continue
		}
		switch section {
		case probeUser:
			if line != "" {
				f.User = line
			}
		case probePaths:
			flag, p, ok := strings.Cut(line, " ")
			if !ok || !path.IsAbs(p) {
				continue // the probe asks about absolute paths only
			}
			pf := f.Paths[p]
			switch flag {
			case "e":
				pf.Exists = true
			case "d":
				pf.Dir = true
			case "L":
				pf.Link = true
			case "w":
				pf.Writable = true
			default:
				continue
			}
			f.Paths[p] = pf
		case probeDisk:
			// df -Pk: Filesystem 1024-blocks Used Available Capacity Mounted-on
			fields := strings.Fields(line)
			if len(fields) >= 6 && fields[0] != "Filesystem" {
				// A negative or overflowing size is no size.
				if kb, err := strconv.ParseInt(fields[3], 10, 64); err == nil && kb >= 0 && kb <= math.MaxInt64/1024 {
					f.Free = kb * 1024
					f.Mount = strings.Join(fields[5:], " ")
				}
			}
		case probeMissing:
			if line != "" {
				f.Missing = append(f.Missing, line)
			}
		case probeGit:
			if line != "" && !strings.HasPrefix(line, "git version") {
				f.GitOutput = append(f.GitOutput, line)
			}
		}
	}
	return f
}
