package ops

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
	"github.com/capstan-deploy/capstan/deploylib/shell"
	"github.com/mattn/go-isatty"
)

// replaceProcess says whether the ssh target can hand the terminal over by
// replacing this process with ssh (execve); Windows has none, so there
// the ssh target runs ssh as a child process and passes its exit status
// on.
const replaceProcess = runtime.GOOS != "windows"

// adhocCmd runs the operator's command line in current when it exists
// (else where the login lands). The command line is the one sanctioned use
// of shell.Raw: the operator typed it, for the shell.
func adhocCmd(current, command string) shell.Command {
	return shell.New("cd", current).Quiet().Then(shell.Raw(command))
}

// adhocError reports the hosts where an ad-hoc command failed.
type adhocError struct {
	// Failed are the failed commands, one per host.
	Failed []*engine.CommandError
	// Hosts is how many hosts ran the command.
	Hosts int
	// Err is every host's error, joined.
	Err error
}

func (e *adhocError) Error() string {
	var hosts []string
	for _, ce := range e.Failed {
		hosts = append(hosts, ce.Host+" ("+engine.CommandStatus(ce)+")")
	}
	if len(hosts) == 0 {
		return e.Err.Error()
	}
	return fmt.Sprintf("failed on %d of %d hosts: %s", len(e.Failed), e.Hosts, strings.Join(hosts, ", "))
}

func (e *adhocError) Unwrap() error { return e.Err }

// ExitStatus returns the first failed host's exit status (1 when it had
// none), so that mage exits with it.
func (e *adhocError) ExitStatus() int {
	for _, ce := range e.Failed {
		if ce.Status > 0 {
			return ce.Status
		}
	}
	return 1
}

// RunAdHoc runs command, a shell command line typed by the operator, on
// every selected host of the stage (HOSTS and ROLES apply) at once, in the
// current release directory where there is one. Output lines are prefixed
// by host. If the command failed on any host, the error names every such
// host and carries the exit status of one of them, which mage exits with.
// Ctrl-C or SIGTERM stops the command on every host, and the error is an
// [*engine.InterruptedError]. It is the run target: mage production run "uptime".
func RunAdHoc(ctx context.Context, command string, opts ...engine.Option) error {
	if strings.TrimSpace(command) == "" {
		return errors.New(`run: give the command to run, e.g. mage production run "uptime"`)
	}
	return engine.StartReadOnly(ctx, "run "+strconv.Quote(command), opts, func(ctx context.Context, s *engine.Session) error {
		return runAdhoc(ctx, s, command)
	})
}

// runAdhoc runs the operator's command on every host of s and reports
// how it went.
func runAdhoc(ctx context.Context, s *engine.Session, command string) error {
	s.Console().Task("run")
	cmd := adhocCmd(s.Run().CurrentPath(), command)
	err := engine.On(ctx, engine.All(), func(ctx context.Context, h *engine.Host) error {
		return h.ExecuteCommand(ctx, cmd)
	})
	if err == nil {
		s.Console().Success("run finished: %s, %.1fs", engine.CountOf(len(s.Hosts()), "host"), s.Elapsed().Seconds())
		return nil
	}
	ae := &adhocError{Failed: engine.CommandErrors(err), Hosts: len(s.Hosts()), Err: err}
	if !s.Interrupted() {
		// An interrupted command did not fail: the lifecycle says it was
		// interrupted.
		s.Console().Error("run " + ae.Error())
	}
	return ae
}

// OpenShell opens an interactive login shell on one host of the stage, in
// the current release (else in deploy_to). host picks the host by name
// ("web2") or as the stage writes it ("deploy@web2:2222"); "" takes the
// first selected host (HOSTS and ROLES apply). A server reached over SSH
// gets the system's ssh with the stage's known_hosts, identities, jump
// hosts and ssh_config; a Local server gets $SHELL. It is the ssh target:
// mage production ssh, mage production ssh -host=web2.
//
// On a terminal (but on Windows) the shell replaces this process, so
// Ctrl-C and job control reach it and nothing else. Otherwise (a pipe, a
// script) the shell runs as a child under the run's signal handling:
// Ctrl-C or SIGTERM stops it, and the error is an [*engine.InterruptedError].
func OpenShell(ctx context.Context, host string, opts ...engine.Option) error {
	s, err := engine.OpenSession(opts...)
	if err != nil {
		return err
	}
	defer s.Close()
	h, err := pickHost(s.Hosts(), host)
	if err != nil {
		return err
	}
	argv, dir, err := shellArgv(s, h)
	if err != nil {
		return err
	}
	name := "ssh " + h.String()
	where := s.Run().CurrentPath()
	if h.Server.Local {
		where = dir
	}
	announce := func() {
		s.Console().Info("shell on %s in %s", h, where)
		s.Console().Log("INFO", "Running: "+quoteArgv(argv))
	}
	if !s.DryRun() && replaceProcess && isatty.IsTerminal(os.Stdin.Fd()) && !s.ShellNoExec() {
		// Hand the terminal over: the shell replaces this process, so
		// Ctrl-C and job control reach it and nothing else. The run
		// watches no signal: it ends here.
		s.LogStart(name)
		announce()
		path, err := exec.LookPath(argv[0])
		if err != nil {
			return fmt.Errorf("ssh: %w", err)
		}
		s.Close()
		if dir != "" {
			if err := os.Chdir(dir); err != nil {
				return fmt.Errorf("ssh: %w", err)
			}
		}
		return fmt.Errorf("ssh: starting %s: %w", path, syscall.Exec(path, argv, os.Environ()))
	}
	return s.ReadOnly(ctx, name, func(ctx context.Context) error {
		announce()
		if s.DryRun() {
			s.Console().Note("%s", quoteArgv(argv))
			return nil
		}
		return runShell(ctx, h, argv, dir)
	})
}

// runShell runs argv in dir as a child with this process's standard
// input and output, and passes on its exit status.
func runShell(ctx context.Context, h *engine.Host, argv []string, dir string) error {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("ssh: %w", err)
	}
	c := exec.CommandContext(ctx, path, argv[1:]...)
	c.Dir = dir
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := c.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return &engine.CommandError{Host: h.String(), Command: quoteArgv(argv), Status: ee.ExitCode(), Err: err}
		}
		return fmt.Errorf("ssh: %w", err)
	}
	return nil
}

// pickHost finds host among hosts the way HOSTS does (host name,
// host:port, user@host, or as written in the stage); "" picks the first.
// A name that several hosts share is an error listing them.
func pickHost(hosts []*engine.Host, host string) (*engine.Host, error) {
	if host == "" {
		return hosts[0], nil
	}
	var found []*engine.Host
	var names []string
	for _, h := range hosts {
		if engine.ServerMatches(h.Server, host) || host == h.String() {
			found = append(found, h)
		}
		names = append(names, h.Server.Host)
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, fmt.Errorf("ssh: no selected server is called %q; choose one of %s", host, strings.Join(names, ", "))
	}
	names = names[:0]
	for _, h := range found {
		names = append(names, h.Server.Host)
	}
	return nil, fmt.Errorf("ssh: %q names %d servers (%s); give the port too (-host=host:port) or write it as in the stage", host, len(found), strings.Join(names, ", "))
}

// shellArgv returns the command line that opens a shell on h, and the
// local directory to run it in ("" for ssh).
func shellArgv(s *engine.Session, h *engine.Host) (argv []string, dir string, err error) {
	r := s.Run()
	if h.Server.Local {
		sh := cmp.Or(s.LocalShell(), "/bin/sh")
		for _, d := range []string{r.CurrentPath(), r.Config.DeployTo} {
			if fi, err := os.Stat(d); err == nil && fi.IsDir() {
				return []string{sh}, d, nil
			}
		}
		return []string{sh}, "", nil
	}
	cfg := engine.SSHConfig(r.Stage.SSH, h.Server)
	jumps, err := cfg.JumpHosts()
	if err != nil {
		return nil, "", fmt.Errorf("ssh: %w", err)
	}
	files, err := cfg.Files()
	if err != nil {
		return nil, "", fmt.Errorf("ssh: %w", err)
	}
	tty := isatty.IsTerminal(os.Stdin.Fd())
	return sshArgv(h.Address, r.Stage.SSH, files, jumps, r.CurrentPath(), r.Config.DeployTo, tty), "", nil
}

// sshArgv builds the ssh command line for an interactive shell on a in
// current (else deployTo), with the stage's SSH options. Host keys are
// verified: StrictHostKeyChecking=yes, or accept-new when the stage
// accepts new keys. files are the files Capstan's own SSH reads for the
// host (sshbackend's Config.Files, "~" expanded against $HOME): ssh gets
// them explicitly, since it would expand "~" with the account's home
// directory and read its own defaults from there. The jump hosts (the
// stage's ProxyJump, else the SSH config's) are reached through a
// ProxyCommand running ssh with the same options, hop by hop, not with
// -J: OpenSSH gives the -J child none of the -o options, so the jump
// hosts would be checked with the user's own policy instead of the
// stage's.
func sshArgv(a engine.Address, o engine.SSHOptions, files sshbackend.Files, jumps []sshbackend.JumpHost, current, deployTo string, tty bool) []string {
	argv := []string{"ssh"}
	if tty {
		argv = append(argv, "-t")
	}
	argv = append(argv, hostKeyArgs(o, files)...)
	if o.ForwardAgent {
		argv = append(argv, "-A")
	}
	if len(jumps) > 0 {
		argv = append(argv, "-o", "ProxyCommand="+proxyCommand(o, files, jumps))
	}
	if a.Port != 0 {
		argv = slices.Insert(argv, slices.Index(argv, "-o"), "-p", strconv.Itoa(a.Port))
	}
	dest := a.Host
	if a.User != "" {
		dest = a.User + "@" + a.Host
	}
	remote := shell.New("cd", current).Quiet().
		Or(shell.New("cd", deployTo).Quiet()).
		Then(shell.New("exec", "sh", "-c", `exec "${SHELL:-/bin/sh}" -l`))
	return append(argv, "--", dest, remote.String())
}

// hostKeyArgs returns the ssh options that every hop gets: the config
// file, the host key policy, the known_hosts files (the global one
// off: Capstan's own SSH does not read it) and the identities, the
// files as Capstan's own SSH reads them.
func hostKeyArgs(o engine.SSHOptions, files sshbackend.Files) []string {
	argv := []string{"-F", files.SSHConfig}
	check := "yes"
	if o.AcceptNewHostKeys {
		check = "accept-new"
	}
	argv = append(argv, "-o", "StrictHostKeyChecking="+check, "-o", "GlobalKnownHostsFile=none")
	if len(files.KnownHosts) > 0 {
		words := make([]string, len(files.KnownHosts))
		for i, f := range files.KnownHosts {
			words[i] = sshConfigWord(f)
		}
		argv = append(argv, "-o", "UserKnownHostsFile="+strings.Join(words, " "))
	}
	for _, id := range files.Identities {
		argv = append(argv, "-i", id)
	}
	return argv
}

// proxyCommand returns the ProxyCommand that reaches the host after
// jumps: ssh -W to the last jump host, itself reached through the
// ProxyCommand of the jump hosts before it; the first one is reached
// directly (ProxyCommand=none, whatever the SSH config says).
func proxyCommand(o engine.SSHOptions, files sshbackend.Files, jumps []sshbackend.JumpHost) string {
	inner := "none"
	if len(jumps) > 1 {
		inner = proxyCommand(o, files, jumps[:len(jumps)-1])
	}
	j := jumps[len(jumps)-1]
	argv := append(hostKeyArgs(o, files), "-o", "ProxyCommand="+inner)
	if j.User != "" {
		argv = append(argv, "-l", j.User)
	}
	if j.Port != 0 {
		argv = append(argv, "-p", strconv.Itoa(j.Port))
	}
	argv = append(argv, "--", j.Host)
	// ssh expands %h and %p in a ProxyCommand, then runs it with the
	// shell (exec COMMAND): every word is quoted for the shell, and its %
	// doubled, but for -W's own %h and %p.
	words := []string{"ssh", "-W", "'[%h]:%p'"}
	for _, w := range argv {
		words = append(words, strings.ReplaceAll(shell.Quote(w), "%", "%%"))
	}
	return strings.Join(words, " ")
}

// sshConfigWord quotes a value for ssh_config's tokenizer (-o options):
// a path with spaces goes in double quotes.
func sshConfigWord(s string) string {
	if strings.ContainsAny(s, " \t") {
		return `"` + s + `"`
	}
	return s
}

// quoteArgv renders argv as a shell command line, for the console and log.
func quoteArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shell.Quote(a)
	}
	return strings.Join(q, " ")
}
