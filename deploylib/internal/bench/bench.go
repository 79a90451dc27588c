package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/internal/measure"
	"github.com/capstan-deploy/capstan/deploylib/lab"
	"github.com/capstan-deploy/capstan/deploylib/lab/latency"
)

// Sample is one timed deploy.
type Sample struct {
	Wall time.Duration
	// CPU is the user and system time of the client's process tree.
	CPU time.Duration
	// ServerCPU is the user and system time the deploy cost the hosts,
	// all of them: their sshd connections, shells and programs (see
	// serverCPU); 0 where it could not be read.
	ServerCPU time.Duration
	// PerHost are the counts of each host, in lab order.
	PerHost []Counts
}

// ToolResult is one tool at one host count.
type ToolResult struct {
	Tool    string
	Label   string
	Samples []Sample
	Err     error
}

// HostsResult is every tool at one host count.
type HostsResult struct {
	Hosts int
	// Runs is the number of timed deploys per tool.
	Runs  int
	Tools []*ToolResult
	// GoToolMage is one deploy through go tool mage instead of the
	// compiled binary: mage checks and rebuilds the binary first.
	GoToolMage *Sample
	Err        error
}

// Report is a whole benchmark run.
type Report struct {
	Started time.Time
	Took    time.Duration
	Machine string
	Options Options
	// Capistrano is cap's version, or "" with CapistranoMissing saying why.
	Capistrano        string
	CapistranoMissing string
	// CompileFirst, CompileWarm and CompileCold are the times of go tool
	// mage -compile of the team project: the first with the Go build cache
	// as found, again (the cache now warm, as after editing a magefile),
	// and with an empty cache (BENCH_COLD=1; zero when not measured).
	CompileFirst, CompileWarm, CompileCold time.Duration

	Results []*HostsResult

	// LoadBefore and LoadAfter are the 1-minute load averages when the
	// benchmark started and ended; other work on the machine skews the
	// figures.
	LoadBefore, LoadAfter float64
}

// Run runs the benchmark, prints its progress and the Markdown report to
// o.Progress, writes the report to <Out>/bench-results.md and returns it.
func Run(ctx context.Context, o Options) (*Report, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	p := o.Progress
	rep := &Report{Started: time.Now(), Options: o, Machine: machine(), LoadBefore: loadAvg()}
	if rep.LoadBefore > float64(runtime.NumCPU())/2 {
		fmt.Fprintf(p, "warning: the machine is busy (load average %.1f on %d CPUs): the figures will be skewed; run the benchmark on a quiet machine\n",
			rep.LoadBefore, runtime.NumCPU())
	}
	if err := ensureLabTools(ctx, !o.NoInstall, p); err != nil {
		return nil, err
	}
	if err := lab.Check(); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("the benchmark must run as root: the lab then gives every host its own /srv (a private mount namespace), " +
			"so that all hosts have one deploy_to, as Capistrano needs; run sudo go tool mage bench")
	}
	if o.RepoRoot == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		if o.RepoRoot, err = findRepoRoot(wd); err != nil {
			return nil, err
		}
	}
	if o.Out == "" {
		dir, err := os.MkdirTemp("", "capstan-bench-")
		if err != nil {
			return nil, err
		}
		o.Out = dir
	}
	o.Out, _ = filepath.Abs(o.Out)
	rep.Options = o
	work := filepath.Join(o.Out, "work")
	if err := os.MkdirAll(filepath.Join(o.Out, "logs"), 0o755); err != nil {
		return nil, err
	}
	if !o.Keep {
		defer os.RemoveAll(work)
	}
	fmt.Fprintf(p, "benchmark: hosts %v, %v each way, tools %s; logs in %s\n",
		o.Hosts, o.oneWay(), strings.Join(o.Tools, ","), o.Out)

	if o.has(ToolCapistrano) {
		rep.Capistrano, rep.CapistranoMissing = ensureCapistrano(ctx, !o.NoInstall, p)
		if rep.Capistrano == "" {
			fmt.Fprintf(p, "Capistrano is left out: %s\n", rep.CapistranoMissing)
		} else if err := writeCapistranoProject(filepath.Join(work, "capistrano")); err != nil {
			return nil, err
		}
	}
	var capstanBin string
	if o.has(ToolCapstan) {
		var err error
		if capstanBin, err = prepareCapstan(ctx, o, rep, work); err != nil {
			return nil, err
		}
	}
	for _, n := range o.Hosts {
		hr := runHosts(ctx, o, rep, work, capstanBin, n, len(rep.Results) == 0)
		rep.Results = append(rep.Results, hr)
		if hr.Err != nil {
			fmt.Fprintf(p, "%d hosts: %v\n", n, hr.Err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	rep.Took = time.Since(rep.Started)
	rep.LoadAfter = loadAvg()
	md := rep.Markdown()
	fmt.Fprintln(p)
	fmt.Fprint(p, md)
	file := filepath.Join(o.Out, "bench-results.md")
	if err := os.WriteFile(file, []byte(md), 0o644); err != nil {
		return rep, err
	}
	fmt.Fprintf(p, "\nwritten to %s (logs of every run beside it)\n", file)
	return rep, errors.Join(ctx.Err(), rep.failures())
}

// failures returns the errors of the run, if any.
func (r *Report) failures() error {
	var errs []error
	for _, hr := range r.Results {
		if hr.Err != nil {
			errs = append(errs, fmt.Errorf("%d hosts: %w", hr.Hosts, hr.Err))
		}
		for _, tr := range hr.Tools {
			if tr.Err != nil {
				errs = append(errs, fmt.Errorf("%d hosts, %s: %w", hr.Hosts, tr.Tool, tr.Err))
			}
		}
	}
	return errors.Join(errs...)
}

// prepareCapstan writes and compiles the team project and returns the
// binary's path.
func prepareCapstan(ctx context.Context, o Options, rep *Report, work string) (string, error) {
	p := o.Progress
	dir := filepath.Join(work, "capstan")
	if err := writeCapstanProject(dir, o.RepoRoot); err != nil {
		return "", err
	}
	bin := filepath.Join(work, "capstan-bin", "deploy")
	log, err := os.Create(filepath.Join(o.Out, "logs", "compile.log"))
	if err != nil {
		return "", err
	}
	defer log.Close()
	if o.ColdCompile {
		cache, err := os.MkdirTemp("", "capstan-bench-gocache-")
		// The Go build cache is written read-only in places.
		defer exec.Command("chmod", "-R", "u+w", cache).Run()
		if err != nil {
			return "", err
		}
		fmt.Fprintln(p, "compiling the team project with an empty Go build cache (cold)...")
		rep.CompileCold, err = compileCapstan(ctx, dir, bin, cache, log)
		os.RemoveAll(cache)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(p, "  cold compile: %.1f s\n", rep.CompileCold.Seconds())
	}
	// The first compile with the machine's cache fills it; the second is
	// what a team sees after editing a magefile.
	for i := range 2 {
		d, err := compileCapstan(ctx, dir, bin, "", log)
		if err != nil {
			return "", err
		}
		if i == 0 {
			rep.CompileFirst = d
		} else {
			rep.CompileWarm = d
		}
	}
	fmt.Fprintf(p, "  compile: %.2f s with the Go build cache as found, %.2f s again\n", rep.CompileFirst.Seconds(), rep.CompileWarm.Seconds())
	return bin, nil
}

// toolRun is what running one tool against one lab needs.
type toolRun struct {
	o        Options
	l        *lab.Lab
	proxies  []*latency.Proxy
	known    string // known_hosts of the proxies
	work     string
	logs     string
	bin      string // Capstan's compiled binary
	tool     string
	deployTo string
	lastRun  time.Time
	// previous is each host's release before this run.
	previous []string
	// servers measures the hosts' CPU time; nil where it cannot.
	servers *serverGroup
}

// runHosts measures every tool on a lab of n hosts.
func runHosts(ctx context.Context, o Options, rep *Report, work, bin string, n int, first bool) *HostsResult {
	p := o.Progress
	hr := &HostsResult{Hosts: n, Runs: o.runsFor(n)}
	fmt.Fprintf(p, "\n%d host(s): starting the lab\n", n)
	l, err := lab.New(ctx, lab.Options{Hosts: n, Logf: func(format string, args ...any) {
		fmt.Fprintf(p, "  "+format+"\n", args...)
	}})
	if err != nil {
		hr.Err = fmt.Errorf("lab of %d hosts: %w", n, err)
		return hr
	}
	var group *serverGroup
	defer func() {
		if err := l.Close(); err != nil {
			fmt.Fprintf(p, "  %v\n", err)
		}
		if group != nil {
			group.close()
		}
	}()
	var sshds []int
	for _, h := range l.Hosts {
		sshds = append(sshds, h.Pid)
	}
	if group, err = newServerGroup(sshds); err != nil {
		fmt.Fprintf(p, "  the hosts' CPU time is not measured: %v\n", err)
	}
	for _, h := range l.Hosts {
		if h.DeployTo != l.Hosts[0].DeployTo || !strings.HasPrefix(h.DeployTo, "/srv/") {
			hr.Err = fmt.Errorf("the hosts share one file system (DeployTo %s, %s): the benchmark needs every host to see its own /srv, "+
				"which the lab gives when run as root on Linux with unshare", l.Hosts[0].DeployTo, h.DeployTo)
			return hr
		}
	}
	delay := o.Delay
	if delay == 0 {
		delay = -1
	}
	var proxies []*latency.Proxy
	defer func() {
		for _, px := range proxies {
			px.Close()
		}
	}()
	var known strings.Builder
	var servers []string
	for _, h := range l.Hosts {
		px, err := latency.Listen(h.Addr, delay)
		if err != nil {
			hr.Err = err
			return hr
		}
		proxies = append(proxies, px)
		for _, k := range h.HostKeys {
			f := strings.Fields(k)
			fmt.Fprintf(&known, "[127.0.0.1]:%d %s %s\n", px.Port(), f[0], f[1])
		}
		servers = append(servers, fmt.Sprintf("%s@127.0.0.1:%d", l.User, px.Port()))
	}
	labWork := filepath.Join(work, fmt.Sprintf("hosts-%d", n))
	if err := os.MkdirAll(labWork, 0o755); err != nil {
		hr.Err = err
		return hr
	}
	knownFile := filepath.Join(labWork, "known_hosts")
	if err := os.WriteFile(knownFile, []byte(known.String()), 0o600); err != nil {
		hr.Err = err
		return hr
	}
	logs := filepath.Join(o.Out, "logs", fmt.Sprintf("hosts-%d", n))
	if err := os.MkdirAll(logs, 0o755); err != nil {
		hr.Err = err
		return hr
	}

	var tools []*toolRun
	for _, t := range o.Tools {
		if t == ToolCapistrano && rep.Capistrano == "" {
			continue
		}
		label := map[string]string{ToolCapstan: "Capstan", ToolCapistrano: "Capistrano " + rep.Capistrano, ToolFloor: "floor (ssh + sh -s)"}[t]
		hr.Tools = append(hr.Tools, &ToolResult{Tool: t, Label: label})
		tools = append(tools, &toolRun{o: o, l: l, proxies: proxies, known: knownFile, work: labWork, logs: logs, bin: bin,
			tool: t, deployTo: l.Hosts[0].DeployTo + "/" + t, previous: make([]string, n), servers: group})
	}
	if err := prepareHosts(ctx, l, tools); err != nil {
		hr.Err = fmt.Errorf("preparing the hosts: %w", err)
		return hr
	}
	env := map[string]string{envRepo: l.Repo, envServers: strings.Join(servers, ","), envKnownHosts: knownFile, envKey: l.ClientKey}

	if first {
		// One untimed deploy per tool, so that no timed run pays for cold
		// disk caches (Ruby's gems, the binaries, git).
		fmt.Fprintf(p, "%d host(s): one untimed warm-up deploy of each tool\n", n)
		for i, tr := range tools {
			s, err := tr.deploy(ctx, env, "warmup", false)
			if err != nil {
				hr.Tools[i].Err = err
				fmt.Fprintf(p, "  %-10s failed: %v\n", tr.tool, err)
				continue
			}
			fmt.Fprintf(p, "  warm-up %-10s %s\n", tr.tool, s.line())
		}
	}
	runs := o.runsFor(n)
	for run := range runs {
		for k := range tools {
			// Rotate the order every run so that no tool always follows
			// the same one.
			i := (k + run) % len(tools)
			tr, res := tools[i], hr.Tools[i]
			if res.Err != nil || ctx.Err() != nil {
				continue
			}
			s, err := tr.deploy(ctx, env, fmt.Sprintf("run%d", run+1), false)
			if err != nil {
				res.Err = err
				fmt.Fprintf(p, "  run %d/%d %-10s failed: %v\n", run+1, runs, tr.tool, err)
				continue
			}
			res.Samples = append(res.Samples, s)
			fmt.Fprintf(p, "  run %d/%d %-10s %s\n", run+1, runs, tr.tool, s.line())
		}
	}
	for i, tr := range tools {
		if first && tr.tool == ToolCapstan && hr.Tools[i].Err == nil && ctx.Err() == nil {
			s, err := tr.deploy(ctx, env, "go-tool-mage", true)
			if err != nil {
				fmt.Fprintf(p, "  go tool mage bench deploy failed: %v\n", err)
			} else {
				hr.GoToolMage = &s
				fmt.Fprintf(p, "  go tool mage bench deploy (not precompiled): %s\n", s.line())
			}
		}
	}
	return hr
}

func (s Sample) line() string {
	cmds, sess, conns := counts([]Sample{s})
	server := 0.0
	if len(s.PerHost) > 0 {
		server = s.ServerCPU.Seconds() / float64(len(s.PerHost))
	}
	return fmt.Sprintf("%6.3f s wall  %6.3f s cpu  per host: %5.3f s server cpu, %s commands, %s sessions, %s connections",
		s.Wall.Seconds(), s.CPU.Seconds(), server, cmds, sess, conns)
}

// counts returns the per-host commands, sessions and connections of
// samples as "12" or "12-13".
func counts(samples []Sample) (cmds, sessions, conns string) {
	var c, s, k []int
	for _, sm := range samples {
		for _, h := range sm.PerHost {
			c = append(c, h.Commands)
			s = append(s, h.Sessions)
			k = append(k, h.Connections)
		}
	}
	return span(c), span(s), span(k)
}

// prepareHosts gives every tool's deploy_to its linked files in shared/
// and a mirror of the repository in repo/, as any deploy after the first
// finds them, over SSH straight to each sshd (not through the proxies; not
// measured). Every timed deploy is then an ordinary, not a first, deploy.
func prepareHosts(ctx context.Context, l *lab.Lab, tools []*toolRun) error {
	var script strings.Builder
	script.WriteString("set -e\n")
	for _, tr := range tools {
		for _, f := range linkedFiles {
			path := tr.deployTo + "/shared/" + f
			fmt.Fprintf(&script, "mkdir -p %s && echo 'secret: bench' > %s\n", quoteAll([]string{filepath.Dir(path)}), quoteAll([]string{path}))
		}
		fmt.Fprintf(&script, "git clone --quiet --mirror -- %s %s\n", quoteAll([]string{l.Repo}), quoteAll([]string{tr.deployTo + "/repo"}))
	}
	errs := make([]error, len(l.Hosts))
	var wg sync.WaitGroup
	for i, h := range l.Hosts {
		wg.Go(func() {
			args := append(sshArgs(l.ClientKey, l.KnownHosts, h.Port, l.User), "sh -s")
			cmd := exec.CommandContext(ctx, "ssh", args...)
			cmd.Stdin = strings.NewReader(script.String())
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("%s: %v: %s", h.Name, err, out)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// deploy runs one deploy of the tool, timed, and checks that every host
// got a new release of the repository's last commit. viaGoTool runs
// Capstan through go tool mage instead of the compiled binary.
func (tr *toolRun) deploy(ctx context.Context, common map[string]string, name string, viaGoTool bool) (Sample, error) {
	l := tr.l
	env := environ(common, map[string]string{envDeployTo: tr.deployTo})
	// Release names have one-second resolution: never start two deploys
	// of one tool within the same second.
	if next := tr.lastRun.Truncate(time.Second).Add(time.Second); time.Now().Before(next) {
		time.Sleep(time.Until(next) + 10*time.Millisecond)
	}
	var cmd *exec.Cmd
	switch {
	case tr.tool == ToolCapstan && viaGoTool:
		cmd = exec.CommandContext(ctx, "go", "tool", "mage", "bench", "deploy")
		cmd.Dir = filepath.Join(filepath.Dir(tr.work), "capstan")
		env = append(env, "GOWORK=off")
	case tr.tool == ToolCapstan:
		cmd = exec.CommandContext(ctx, tr.bin, "bench", "deploy")
		cmd.Dir = filepath.Join(filepath.Dir(tr.work), "capstan")
	case tr.tool == ToolCapistrano:
		cmd = exec.CommandContext(ctx, "cap", "bench", "deploy")
		cmd.Dir = filepath.Join(filepath.Dir(tr.work), "capistrano")
	case tr.tool == ToolFloor:
		release := time.Now().UTC().Format("20060102150405")
		script := filepath.Join(tr.work, "floor-deploy.sh")
		if err := os.WriteFile(script, []byte(floorScript(tr.deployTo, l.Repo, release, "bench")), 0o644); err != nil {
			return Sample{}, err
		}
		var hosts [][]string
		for _, px := range tr.proxies {
			hosts = append(hosts, sshArgs(l.ClientKey, tr.known, px.Port(), l.User))
		}
		driver := filepath.Join(tr.work, "floor.sh")
		if err := os.WriteFile(driver, []byte(floorDriver(script, hosts)), 0o644); err != nil {
			return Sample{}, err
		}
		cmd = exec.CommandContext(ctx, "sh", driver)
	}
	logFile := filepath.Join(tr.logs, tr.tool+"-"+name+".log")
	capstanLog := filepath.Join(tr.logs, tr.tool+"-"+name+".deploy.log")
	if tr.tool == ToolCapstan {
		env = append(env, "CAPSTAN_LOG_FILE="+capstanLog)
	}
	log, err := os.Create(logFile)
	if err != nil {
		return Sample{}, err
	}
	defer log.Close()
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	cmd.WaitDelay = 5 * time.Second

	offsets := make([]int64, len(l.Hosts))
	for i, h := range l.Hosts {
		if offsets[i], err = logSize(h.LogFile); err != nil {
			return Sample{}, err
		}
	}
	// Connections of the run before (prepareHosts, another tool) must
	// have ended, or their CPU would count for this one.
	var serverBefore time.Duration
	var serverErr error
	if tr.servers != nil {
		serverBefore, serverErr = tr.servers.cpu(ctx)
	}
	tr.lastRun = time.Now()
	start := time.Now()
	err = cmd.Run()
	s := Sample{Wall: time.Since(start)}
	if cmd.ProcessState != nil {
		s.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return s, fmt.Errorf("%v; the last lines of %s:\n%s", err, logFile, tail(logFile, 15))
	}
	if tr.servers != nil && serverErr == nil {
		wait, cancel := context.WithTimeout(ctx, 10*time.Second)
		after, err := tr.servers.cpu(wait)
		cancel()
		if err != nil {
			return s, err
		}
		s.ServerCPU = after - serverBefore
	}
	var perHost map[string]int
	if tr.tool == ToolCapstan {
		b, err := os.ReadFile(capstanLog)
		if err != nil {
			return s, fmt.Errorf("capstan's log file: %w", err)
		}
		if perHost = countCapstanLog(b); len(perHost) == 0 {
			return s, fmt.Errorf("no command found in capstan's log file %s (has its format changed? see countCapstanLog)", capstanLog)
		}
	}
	for i, h := range l.Hosts {
		c, err := countSince(h.LogFile, offsets[i])
		if err != nil {
			return s, err
		}
		c.Commands = c.Sessions
		if perHost != nil {
			c.Commands = perHost[fmt.Sprintf("%s@127.0.0.1:%d", l.User, tr.proxies[i].Port())]
		}
		s.PerHost = append(s.PerHost, c)
	}
	if err := tr.checkDeployed(); err != nil {
		return s, fmt.Errorf("%s reported success but: %w (see %s)", tr.tool, err, logFile)
	}
	return s, nil
}

// checkDeployed checks on every host that current moved to a new release
// holding the repository's last commit in REVISION. The lab's hosts see
// Root as /srv.
func (tr *toolRun) checkDeployed() error {
	want := tr.l.Commits[len(tr.l.Commits)-1]
	for i, h := range tr.l.Hosts {
		local := func(p string) string { return filepath.Join(h.Root, strings.TrimPrefix(p, "/srv/")) }
		target, err := os.Readlink(local(tr.deployTo + "/current"))
		if err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		if target == tr.previous[i] {
			return fmt.Errorf("%s: current still points at %s", h.Name, target)
		}
		rev, err := os.ReadFile(local(target + "/REVISION"))
		if err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		if strings.TrimSpace(string(rev)) != want {
			return fmt.Errorf("%s: %s/REVISION is %q, want %s", h.Name, target, rev, want)
		}
		tr.previous[i] = target
	}
	return nil
}

// environ is this process's environment without the agent and the
// variables that would change a tool's behaviour, plus vars.
func environ(sets ...map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "SSH_AUTH_SOCK", k == "HOSTS", k == "ROLES", k == "DRY_RUN", k == "VERBOSE",
			strings.HasPrefix(k, "MAGEFILE_"), strings.HasPrefix(k, "BENCH_"):
			continue
		}
		env = append(env, kv)
	}
	for _, vars := range sets {
		for k, v := range vars {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// tail returns the last n lines of file.
func tail(file string, n int) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// machine describes this machine for the report.
func machine() string {
	parts := measure.Machine()
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				parts = append(parts, strings.Trim(v, `"`))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		parts = append(parts, "Linux "+strings.TrimSpace(string(b)))
	}
	if out, err := exec.Command("ssh", "-V").CombinedOutput(); err == nil {
		v, _, _ := strings.Cut(strings.TrimSpace(string(out)), ",")
		parts = append(parts, v)
	}
	parts = append(parts, runtime.Version())
	if d := spawnCost(); d > 0 {
		parts = append(parts, fmt.Sprintf("starting a process (/bin/true) takes %.1f ms", float64(d.Microseconds())/1000))
	}
	if out, err := exec.Command("ruby", "-v").Output(); err == nil {
		f := strings.Fields(string(out))
		if len(f) >= 2 {
			parts = append(parts, "Ruby "+f[1])
		}
	}
	return strings.Join(parts, ", ")
}

// loadAvg returns the 1-minute load average, 0 when unknown.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	fmt.Sscan(string(b), &l)
	return l
}

// spawnCost returns the median time to start and wait for /bin/true: every
// remote command costs at least one such start on its host, so a machine
// where it is slow favours tools that start fewer processes.
func spawnCost() time.Duration {
	var ds []time.Duration
	for range 21 {
		start := time.Now()
		if err := exec.Command("/bin/true").Run(); err != nil {
			return 0
		}
		ds = append(ds, time.Since(start))
	}
	return measure.Median(ds)
}
