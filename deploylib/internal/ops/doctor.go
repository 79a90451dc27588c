package ops

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/console"
	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
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

// doctorCheck is one column of the doctor's table for one host.
type doctorCheck struct {
	status string // "ok", "WARN", "FAIL", "-" (not checked), or a value
	fix    string // what to do, for WARN and FAIL
}

// hostReport is the doctor's finding on one host.
type hostReport struct {
	host   *engine.Host
	checks map[string]doctorCheck
}

var doctorColumns = []string{"login", "git", "disk free", "directories", "linked files"}

// Diagnose checks every selected host of the stage without changing
// anything: it connects (verifying the host key and the login), and on
// every release host reads, in one command, the state of deploy_to and
// its directories, the free disk space there, the linked files in
// shared/ and, with the git strategy, whether the host has git and can
// read the repository. It prints one table with a verdict per host, then
// what to do about each problem, then the unknown keys of
// Config.Settings. It fails when a host is not ready. It is the doctor
// target: mage production doctor. (deploy:check is the flow's own task,
// which creates the directories and takes the lock, with its hooks.)
func Diagnose(ctx context.Context, opts ...engine.Option) error {
	return engine.StartReadOnly(ctx, doctorName, opts, doctor)
}

// doctorName is the doctor's name in its output, its errors and the log.
const doctorName = "doctor"

// doctor checks every host and prints the verdicts.
func doctor(ctx context.Context, s *engine.Session) error {
	r := s.Run()
	var git *remote.DoctorGit
	if engine.IsGit(r.Config.Strategy) {
		git = &remote.DoctorGit{RepoURL: r.Config.RepoURL, Branch: r.Config.Branch}
	}
	probe := s.Layout().DoctorProbe(r.Config.LinkedFiles, git)
	hosts := s.Hosts()
	reports := make([]*hostReport, len(hosts))
	byHost := make(map[*engine.Host]*hostReport, len(hosts))
	for i, h := range hosts {
		reports[i] = &hostReport{host: h, checks: map[string]doctorCheck{}}
		byHost[h] = reports[i]
	}
	// Every host's problems go into its report; only a failure to select
	// hosts is an error of its own.
	if err := engine.On(ctx, engine.All(), func(ctx context.Context, h *engine.Host) error {
		ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
		defer cancel()
		byHost[h].diagnose(ctx, s, probe, git != nil)
		return nil
	}); err != nil {
		return fmt.Errorf("%s: %w", doctorName, err)
	}
	text, notReady := formatDoctor(s, reports)
	s.Console().Print(text)
	if notReady > 0 {
		return fmt.Errorf("%s: %s of %d not ready; see what to do above", doctorName, engine.CountOf(notReady, "host"), len(reports))
	}
	return nil
}

// diagnose runs the doctor's probe on the host and fills the report.
func (hr *hostReport) diagnose(ctx context.Context, s *engine.Session, probe shell.Command, git bool) {
	h := hr.host
	if !h.Server.NoRelease {
		for _, c := range doctorColumns {
			hr.checks[c] = doctorCheck{status: "-"}
		}
	}
	if s.DryRun() {
		// The probe is only shown and logged: a dry run asks nothing, so
		// there is neither an answer nor an error to read.
		_, _ = h.CaptureCommand(ctx, probe)
		hr.checks["login"] = doctorCheck{status: "-"}
		return
	}
	if !h.Server.NoRelease {
		out, err := h.CaptureCommand(ctx, probe)
		if err != nil {
			hr.checks["login"] = loginProblem(h, err)
			return
		}
		hr.judge(s, remote.ParseDoctorProbe(out), git)
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
func loginProblem(h *engine.Host, err error) doctorCheck {
	var ce *engine.CommandError
	if errors.As(err, &ce) && ce.Status > 0 {
		return doctorCheck{status: "FAIL", fix: fmt.Sprintf("a plain command failed with exit status %d: %s", ce.Status, headLine(ce.Stderr))}
	}
	msg := err.Error()
	if errors.As(err, &ce) {
		msg = ce.Err.Error()
	}
	var cerr *engine.ConnectError
	if errors.As(err, &cerr) {
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

// userOf is the login user of h as the stage writes it, or "<user>" for
// advice when the stage leaves it to the SSH configuration.
func userOf(h *engine.Host) string {
	if h.Address.User != "" {
		return h.Address.User
	}
	return "<user>"
}

// judge turns the facts a host reported into checks.
func (hr *hostReport) judge(s *engine.Session, f remote.DoctorFacts, git bool) {
	h := hr.host
	user := f.User
	if user == "" {
		user = userOf(h)
	}
	hr.checks["login"] = doctorCheck{status: "ok"}
	l := s.Layout()
	deployTo := l.DeployTo

	// Directories.
	dirs := doctorCheck{status: "ok"}
	fail := func(fix string) {
		if dirs.status == "FAIL" {
			dirs.fix += "; " + fix
		} else {
			dirs = doctorCheck{status: "FAIL", fix: fix}
		}
	}
	top := f.Path(deployTo)
	switch {
	case !top.Exists:
		var parent string
		for _, a := range l.Ancestors() {
			if f.Path(a).Exists {
				parent = a
				break
			}
		}
		if parent == "" || !f.Path(parent).Writable {
			fail(fmt.Sprintf("%s does not exist and %s cannot create it: run sudo mkdir -p %s && sudo chown %s %s on the host",
				deployTo, user, shell.Quote(deployTo), shell.Quote(user), shell.Quote(deployTo)))
		} else {
			dirs.status = "ok (created by the first deploy)"
		}
	case !top.Dir:
		fail(fmt.Sprintf("%s is not a directory: move it away", deployTo))
	case !top.Writable:
		fail(fmt.Sprintf("%s is not writable by %s: run sudo chown %s %s on the host", deployTo, user, shell.Quote(user), shell.Quote(deployTo)))
	}
	for _, p := range []string{l.Releases(), l.Shared(), l.Repo()} {
		if pf := f.Path(p); pf.Exists && !pf.Writable {
			fail(fmt.Sprintf("%s is not writable by %s: run sudo chown -R %s %s on the host", p, user, shell.Quote(user), shell.Quote(p)))
		}
	}
	if cur := f.Path(l.Current()); cur.Dir && !cur.Link {
		fail(fmt.Sprintf("%s is a directory, not a symlink: move it away before deploying", l.Current()))
	}
	hr.checks["directories"] = dirs

	// Disk space.
	switch free := f.Free; {
	case free < 0:
		hr.checks["disk free"] = doctorCheck{status: "WARN", fix: "could not read the free space (df -Pk) for " + deployTo}
	case free < diskFail:
		hr.checks["disk free"] = doctorCheck{status: "FAIL " + console.HumanBytes(free),
			fix: fmt.Sprintf("only %s free on %s: free some space (mage deploy:cleanup removes old releases)", console.HumanBytes(free), f.Mount)}
	case free < diskWarn:
		hr.checks["disk free"] = doctorCheck{status: "WARN " + console.HumanBytes(free),
			fix: fmt.Sprintf("only %s free on %s; a release or two more may fill it", console.HumanBytes(free), f.Mount)}
	default:
		hr.checks["disk free"] = doctorCheck{status: console.HumanBytes(free)}
	}

	// Linked files.
	if len(f.Missing) == 0 {
		hr.checks["linked files"] = doctorCheck{status: "ok"}
	} else {
		var ps []string
		for _, m := range f.Missing {
			ps = append(ps, path.Join(l.Shared(), m))
		}
		hr.checks["linked files"] = doctorCheck{status: fmt.Sprintf("FAIL %d missing", len(f.Missing)),
			fix: "create " + strings.Join(ps, ", ") + " on the host (deploys link them into each release and never create them)"}
	}

	// Git access from the host.
	if !git {
		hr.checks["git"] = doctorCheck{status: "-"}
		return
	}
	last := ""
	if len(f.GitOutput) > 0 {
		last = f.GitOutput[len(f.GitOutput)-1]
	}
	// said returns the first line of git's output holding any of words.
	said := func(words ...string) string {
		for _, l := range f.GitOutput {
			for _, w := range words {
				if strings.Contains(l, w) {
					return l
				}
			}
		}
		return ""
	}
	repo := s.Run().Config.RepoURL
	switch {
	case f.NoGit:
		hr.checks["git"] = doctorCheck{status: "FAIL", fix: "git is not installed on the host: install it (apt-get install git), or use the Upload strategy"}
	case !f.GitOK && said("Host key verification failed") != "":
		hr.checks["git"] = doctorCheck{status: "FAIL", fix: fmt.Sprintf("the host does not know the git server's host key: as %s on the host, check and record it (ssh-keyscan <git host> >> ~/.ssh/known_hosts)", user)}
	case !f.GitOK && said("Permission denied", "Authentication failed", "could not read Username") != "":
		hr.checks["git"] = doctorCheck{status: "FAIL", fix: fmt.Sprintf("%s cannot read %s (%s): give it a deploy key in ~%s/.ssh/, or set ForwardAgent in the stage's SSH options",
			user, repo, said("Permission denied", "Authentication failed", "could not read Username"), user)}
	case !f.GitOK:
		hr.checks["git"] = doctorCheck{status: "FAIL", fix: fmt.Sprintf("git ls-remote %s failed on the host: %s", repo, orDash(last))}
	case len(f.GitOutput) == 0:
		hr.checks["git"] = doctorCheck{status: "FAIL", fix: fmt.Sprintf("branch %q does not exist in %s", s.Run().Config.Branch, repo)}
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
func formatDoctor(s *engine.Session, reports []*hostReport) (string, int) {
	r := s.Run()
	var b strings.Builder
	strategy := engine.StrategyName(r.Config.Strategy)
	strategy = strings.TrimPrefix(strings.TrimPrefix(strategy, "*"), "deploylib.")
	fmt.Fprintf(&b, "%s of stage %s: deploy_to %s, %s strategy, branch %s\n", doctorName, r.Stage.Name, r.Config.DeployTo, strings.ToLower(strategy), r.Config.Branch)
	if s.DryRun() {
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
	if unknown := s.UnknownSettings(); len(unknown) > 0 {
		b.WriteString("\nConfiguration:\n")
		for _, u := range unknown {
			b.WriteString("  " + u + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n"), notReady
}
