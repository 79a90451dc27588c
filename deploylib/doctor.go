package deploylib

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/console"
	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Disk space thresholds of the doctor.
const (
	diskFail = 100 << 20 // below this, a deploy is likely to fail
	diskWarn = 1 << 30   // below this, the doctor warns
)

// doctorTimeout bounds each host's checks (git ls-remote may hang on an
// unreachable git server).
const doctorTimeout = 60 * time.Second

// doctorCmd gathers, in one command, what the doctor checks on a host:
// the login user; for deploy_to, its directories and its ancestors
// whether each exists, is a directory, a link, writable; the free space
// where deploy_to is (or would be); the linked files missing from shared/;
// and, with the git strategy, git's presence and access to the repository.
// Each section starts with an "@name" line. It always succeeds.
func doctorCmd(deployTo string, linkedFiles []string, gitCheck *shell.Command) shell.Command {
	cmd := shell.New("echo", "@user").Then(shell.New("id", "-un"))
	cmd = cmd.Then(shell.New("echo", "@paths"))
	for _, p := range doctorPaths(deployTo) {
		for _, f := range []string{"e", "d", "L", "w"} {
			cmd = cmd.Then(shell.New("test", "-"+f, p)).And(shell.New("echo", f, p))
		}
	}
	cmd = cmd.Then(shell.New("echo", "@df"))
	var df shell.Command
	for _, p := range append([]string{deployTo}, parentDirs(deployTo)...) {
		step := shell.New("df", "-Pk", p).Quiet()
		if df.IsZero() {
			df = step
		} else {
			df = df.Or(step)
		}
	}
	cmd = cmd.Then(df)
	cmd = cmd.Then(shell.New("echo", "@missing"))
	shared := path.Join(deployTo, "shared")
	for _, f := range linkedFiles {
		cmd = cmd.Then(shell.New("test", "-f", path.Join(shared, f))).Or(shell.New("echo", f))
	}
	if gitCheck != nil {
		cmd = cmd.Then(shell.New("echo", "@git")).
			Then(shell.New("git", "--version").Quiet()).Or(shell.New("echo", "@no-git")).
			Then(gitCheck.StderrToStdout().And(shell.New("echo", "@git-ok")).Or(shell.New("echo", "@git-failed")))
	}
	return cmd.Then(shell.New("true"))
}

// doctorPaths are the paths whose state the doctor reads.
func doctorPaths(deployTo string) []string {
	out := []string{deployTo}
	for _, p := range []string{"releases", "shared", "current", "repo"} {
		out = append(out, path.Join(deployTo, p))
	}
	return append(out, parentDirs(deployTo)...)
}

// ancestors returns the parents of p, nearest first, up to /.
func parentDirs(p string) []string {
	var out []string
	for d := path.Dir(p); ; d = path.Dir(d) {
		out = append(out, d)
		if d == "/" || d == "." {
			return out
		}
	}
}

// hostFacts is what doctorCmd reports.
type hostFacts struct {
	user    string
	flags   map[string]string // path -> letters among e, d, L, w
	dfMount string
	dfAvail int64 // bytes, -1 when unknown
	missing []string
	git     bool // the git section is present
	noGit   bool
	gitOK   bool
	gitOut  []string
}

func parseFacts(out string) hostFacts {
	f := hostFacts{flags: map[string]string{}, dfAvail: -1}
	section := ""
	for _, line := range strings.Split(out, "\n") {
		switch line {
		case "@user", "@paths", "@df", "@missing", "@git":
			section = line
			f.git = f.git || line == "@git"
			continue
		case "@no-git":
			f.noGit = true
			continue
		case "@git-ok":
			f.gitOK = true
			continue
		case "@git-failed":
			continue
		}
		switch section {
		case "@user":
			if line != "" {
				f.user = line
			}
		case "@paths":
			if flag, p, ok := strings.Cut(line, " "); ok {
				f.flags[p] += flag
			}
		case "@df":
			fields := strings.Fields(line)
			if len(fields) >= 6 && fields[0] != "Filesystem" {
				if kb, err := strconv.ParseInt(fields[3], 10, 64); err == nil {
					f.dfAvail = kb * 1024
					f.dfMount = fields[len(fields)-1]
				}
			}
		case "@missing":
			if line != "" {
				f.missing = append(f.missing, line)
			}
		case "@git":
			if line != "" && !strings.HasPrefix(line, "git version") {
				f.gitOut = append(f.gitOut, line)
			}
		}
	}
	return f
}

// doctorCheck is one column of the doctor's table for one host.
type doctorCheck struct {
	status string // "ok", "WARN", "FAIL", "-" (not checked), or a value
	fix    string // what to do, for WARN and FAIL
}

// hostReport is the doctor's finding on one host.
type hostReport struct {
	host   *Host
	checks map[string]doctorCheck
}

var doctorColumns = []string{"login", "git", "disk free", "directories", "linked files"}

// Doctor checks every selected host of the stage without changing
// anything: it connects (verifying the host key and the login), and on
// every release host reads, in one command, the state of deploy_to and
// its directories, the free disk space there, the linked files in
// shared/ and, with the git strategy, whether the host has git and can
// read the repository. It prints one table with a verdict per host, then
// what to do about each problem, then the unknown keys of
// Config.Settings. It fails when a host is not ready. It is the
// deploy:check target: mage production deploy:check.
func Doctor(ctx context.Context, opts ...Option) error {
	return startReadOnly(ctx, "deploy:check", opts, doctor)
}

// doctor checks every host and prints the verdicts.
func doctor(ctx context.Context, r *Run) error {
	var gitCheck *shell.Command
	if _, isGit := strategyAs[Git](r.Config.Strategy); isGit {
		c := remote.GitCheck(r.Config.RepoURL, r.Config.Branch)
		gitCheck = &c
	}
	cmd := doctorCmd(r.Config.DeployTo, r.Config.LinkedFiles, gitCheck)
	reports := make([]*hostReport, len(r.hosts))
	for i, h := range r.hosts {
		reports[i] = &hostReport{host: h, checks: map[string]doctorCheck{}}
	}
	// Every host's problems go into its report; only a failure to select
	// hosts is an error of its own.
	if err := On(ctx, All(), func(ctx context.Context, h *Host) error {
		i := 0
		for i < len(r.hosts) && r.hosts[i] != h {
			i++
		}
		ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
		defer cancel()
		reports[i].diagnose(ctx, r, cmd, gitCheck != nil)
		return nil
	}); err != nil {
		return err
	}
	text, notReady := formatDoctor(r, reports)
	r.console.Print(text)
	if notReady > 0 {
		return fmt.Errorf("deploy:check: %s of %d not ready; see what to do above", countOf(notReady, "host"), len(reports))
	}
	return nil
}

// diagnose runs the doctor's command on the host and fills the report.
func (hr *hostReport) diagnose(ctx context.Context, r *Run, cmd shell.Command, git bool) {
	h := hr.host
	if !h.Server.NoRelease {
		for _, c := range doctorColumns {
			hr.checks[c] = doctorCheck{status: "-"}
		}
	}
	if r.dryRun {
		h.CaptureCommand(ctx, cmd)
		hr.checks["login"] = doctorCheck{status: "-"}
		return
	}
	if !h.Server.NoRelease {
		out, err := h.CaptureCommand(ctx, cmd)
		if err != nil {
			hr.checks["login"] = loginProblem(h, err)
			return
		}
		hr.judge(r, parseFacts(out), git)
		return
	}
	// A NoRelease server only needs to accept the login.
	if _, err := h.Capture(ctx, "id", "-un"); err != nil {
		hr.checks["login"] = loginProblem(h, err)
		return
	}
	hr.checks["login"] = doctorCheck{status: "ok"}
}

// loginProblem explains a failure to run anything on h.
func loginProblem(h *Host, err error) doctorCheck {
	var ce *CommandError
	if errors.As(err, &ce) && ce.Status > 0 {
		return doctorCheck{status: "FAIL", fix: fmt.Sprintf("a plain command failed with exit status %d: %s", ce.Status, headLine(ce.Stderr))}
	}
	msg := err.Error()
	if errors.As(err, &ce) {
		msg = ce.Err.Error()
	}
	if cerr := connectErrorOf(err); cerr != nil {
		msg = cerr.Err.Error()
	}
	low := strings.ToLower(msg)
	switch {
	case strings.Contains(low, "host key"):
		return doctorCheck{status: "FAIL", fix: msg}
	case strings.Contains(low, "login") || strings.Contains(low, "auth"):
		return doctorCheck{status: "FAIL", fix: msg + "; check the stage's SSH IdentityFiles, your ssh-agent (ssh-add -l) and ~" + userOf(h) + "/.ssh/authorized_keys on the host"}
	default:
		return doctorCheck{status: "FAIL", fix: "cannot connect: " + msg + "; check the address and port, that sshd runs, the firewall, and ProxyJump for hosts behind a bastion"}
	}
}

func userOf(h *Host) string {
	if h.Address.User != "" {
		return h.Address.User
	}
	return "<user>"
}

// judge turns the facts a host reported into checks.
func (hr *hostReport) judge(r *Run, f hostFacts, git bool) {
	h := hr.host
	user := f.user
	if user == "" {
		user = userOf(h)
	}
	hr.checks["login"] = doctorCheck{status: "ok"}
	deployTo := r.Config.DeployTo

	// Directories.
	dirs := doctorCheck{status: "ok"}
	fail := func(fix string) {
		if dirs.status == "FAIL" {
			dirs.fix += "; " + fix
		} else {
			dirs = doctorCheck{status: "FAIL", fix: fix}
		}
	}
	flags := func(p string) string { return f.flags[p] }
	has := func(p, flag string) bool { return strings.Contains(flags(p), flag) }
	switch {
	case !has(deployTo, "e"):
		var parent string
		for _, a := range parentDirs(deployTo) {
			if has(a, "e") {
				parent = a
				break
			}
		}
		if parent == "" || !has(parent, "w") {
			fail(fmt.Sprintf("%s does not exist and %s cannot create it: run sudo mkdir -p %s && sudo chown %s %s on the host",
				deployTo, user, shell.Quote(deployTo), shell.Quote(user), shell.Quote(deployTo)))
		} else {
			dirs.status = "ok (created by the first deploy)"
		}
	case !has(deployTo, "d"):
		fail(fmt.Sprintf("%s is not a directory: move it away", deployTo))
	case !has(deployTo, "w"):
		fail(fmt.Sprintf("%s is not writable by %s: run sudo chown %s %s on the host", deployTo, user, shell.Quote(user), shell.Quote(deployTo)))
	}
	for _, sub := range []string{"releases", "shared", "repo"} {
		p := path.Join(deployTo, sub)
		if has(p, "e") && !has(p, "w") {
			fail(fmt.Sprintf("%s is not writable by %s: run sudo chown -R %s %s on the host", p, user, shell.Quote(user), shell.Quote(p)))
		}
	}
	if cur := path.Join(deployTo, "current"); has(cur, "d") && !has(cur, "L") {
		fail(fmt.Sprintf("%s is a directory, not a symlink: move it away before deploying", cur))
	}
	hr.checks["directories"] = dirs

	// Disk space.
	switch {
	case f.dfAvail < 0:
		hr.checks["disk free"] = doctorCheck{status: "WARN", fix: "could not read the free space (df -Pk) for " + deployTo}
	case f.dfAvail < diskFail:
		hr.checks["disk free"] = doctorCheck{status: "FAIL " + console.HumanBytes(f.dfAvail),
			fix: fmt.Sprintf("only %s free on %s: free some space (mage deploy:cleanup removes old releases)", console.HumanBytes(f.dfAvail), f.dfMount)}
	case f.dfAvail < diskWarn:
		hr.checks["disk free"] = doctorCheck{status: "WARN " + console.HumanBytes(f.dfAvail),
			fix: fmt.Sprintf("only %s free on %s; a release or two more may fill it", console.HumanBytes(f.dfAvail), f.dfMount)}
	default:
		hr.checks["disk free"] = doctorCheck{status: console.HumanBytes(f.dfAvail)}
	}

	// Linked files.
	if len(f.missing) == 0 {
		hr.checks["linked files"] = doctorCheck{status: "ok"}
	} else {
		var ps []string
		for _, m := range f.missing {
			ps = append(ps, path.Join(deployTo, "shared", m))
		}
		hr.checks["linked files"] = doctorCheck{status: fmt.Sprintf("FAIL %d missing", len(f.missing)),
			fix: "create " + strings.Join(ps, ", ") + " on the host (deploys link them into each release and never create them)"}
	}

	// Git access from the host.
	if !git {
		hr.checks["git"] = doctorCheck{status: "-"}
		return
	}
	last := ""
	if len(f.gitOut) > 0 {
		last = f.gitOut[len(f.gitOut)-1]
	}
	// said returns the first line of git's output holding any of words.
	said := func(words ...string) string {
		for _, l := range f.gitOut {
			for _, w := range words {
				if strings.Contains(l, w) {
					return l
				}
			}
		}
		return ""
	}
	repo := r.Config.RepoURL
	switch {
	case f.noGit:
		hr.checks["git"] = doctorCheck{status: "FAIL", fix: "git is not installed on the host: install it (apt-get install git), or use the Upload strategy"}
	case !f.gitOK && said("Host key verification failed") != "":
		hr.checks["git"] = doctorCheck{status: "FAIL", fix: fmt.Sprintf("the host does not know the git server's host key: as %s on the host, check and record it (ssh-keyscan <git host> >> ~/.ssh/known_hosts)", user)}
	case !f.gitOK && said("Permission denied", "Authentication failed", "could not read Username") != "":
		hr.checks["git"] = doctorCheck{status: "FAIL", fix: fmt.Sprintf("%s cannot read %s (%s): give it a deploy key in ~%s/.ssh/, or set ForwardAgent in the stage's SSH options",
			user, repo, said("Permission denied", "Authentication failed", "could not read Username"), user)}
	case !f.gitOK:
		hr.checks["git"] = doctorCheck{status: "FAIL", fix: fmt.Sprintf("git ls-remote %s failed on the host: %s", repo, orDash(last))}
	case len(f.gitOut) == 0:
		hr.checks["git"] = doctorCheck{status: "FAIL", fix: fmt.Sprintf("branch %q does not exist in %s", r.Config.Branch, repo)}
	default:
		hr.checks["git"] = doctorCheck{status: "ok"}
	}
}

// verdict sums up a host's checks.
func (hr *hostReport) verdict() (string, bool) {
	warn := false
	for _, c := range hr.checks {
		switch {
		case strings.HasPrefix(c.status, "FAIL"):
			return "NOT READY", false
		case strings.HasPrefix(c.status, "WARN"):
			warn = true
		}
	}
	if warn {
		return "ready, with warnings", true
	}
	return "ready", true
}

// formatDoctor renders the table, the fixes and the configuration notes,
// and counts the hosts that are not ready.
func formatDoctor(r *Run, reports []*hostReport) (string, int) {
	var b strings.Builder
	strategy := fmt.Sprintf("%T", r.Config.Strategy)
	strategy = strings.TrimPrefix(strings.TrimPrefix(strategy, "*"), "deploylib.")
	fmt.Fprintf(&b, "deploy:check of stage %s: deploy_to %s, %s strategy, branch %s\n", r.Stage.Name, r.Config.DeployTo, strings.ToLower(strategy), r.Config.Branch)
	if r.dryRun {
		b.WriteString("dry run: no host was asked anything\n")
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tLOGIN\tGIT\tDISK FREE\tDIRECTORIES\tLINKED FILES\tVERDICT")
	var fixes []string
	notReady := 0
	for _, hr := range reports {
		cells := []string{hr.host.String()}
		for _, col := range doctorColumns {
			c, ok := hr.checks[col]
			if !ok {
				c = doctorCheck{status: "-"}
			}
			cell := c.status
			if c.fix != "" {
				fixes = append(fixes, fmt.Sprintf("(%d) %s, %s: %s", len(fixes)+1, hr.host, col, c.fix))
				cell += fmt.Sprintf(" (%d)", len(fixes))
			}
			cells = append(cells, cell)
		}
		v, ok := hr.verdict()
		if !ok {
			notReady++
		}
		if hr.host.Server.NoRelease && ok {
			v += " (no releases)"
		}
		cells = append(cells, v)
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
	if len(fixes) > 0 {
		b.WriteString("\nWhat to do:\n")
		for _, f := range fixes {
			b.WriteString("  " + f + "\n")
		}
	}
	if unknown := unknownSettings(r.Config.Settings); len(unknown) > 0 {
		b.WriteString("\nConfiguration:\n")
		for _, u := range unknown {
			b.WriteString("  " + u + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n"), notReady
}
