package invariant

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// Strategy is how a scenario makes its releases.
type Strategy string

// The strategies a scenario may use.
const (
	// GitStrategy is deploylib.Git{}: a mirror on every host.
	GitStrategy Strategy = "git"
	// GitShallow is deploylib.Git{ShallowClone: 1, MaxConcurrent: 1}: with
	// more than one host, the hosts fetch in turns, so the release is built
	// in a script of its own after the lock's (the other of the planner's
	// two paths; plain git builds it in the lock's script).
	GitShallow Strategy = "git-shallow"
	// UploadArchive is deploylib.Upload{} with no Dir: a local git archive.
	UploadArchive Strategy = "upload-archive"
	// UploadDir is deploylib.Upload{Dir: build}, a directory holding the
	// repository's tree.
	UploadDir Strategy = "upload-dir"
	// UploadEmpty uploads an empty directory.
	UploadEmpty Strategy = "upload-empty"
	// UploadSymlink uploads a directory given as a symlink to the build
	// directory: the release must hold the build's files.
	UploadSymlink Strategy = "upload-symlink"
)

// IsGit reports whether s keeps a mirror on the hosts.
func (s Strategy) IsGit() bool { return s == GitStrategy || s == GitShallow }

// Scenario is everything one seed decides: the fleet, the configuration,
// the repository and the operations, in order.
type Scenario struct {
	Seed         uint64
	Hosts        int
	Strategy     Strategy
	DeployTo     string // absolute, under /srv (each lab host has its own)
	Branch       string
	KeepReleases int
	LinkedFiles  []string
	LinkedDirs   []string
	// Files and Symlinks are the repository's tree (one commit on Branch).
	Files    map[string]string
	Symlinks map[string]string // path -> target, committed as symlinks
	// Junk are entries the team keeps in releases/ that are not releases
	// ("20261125214038.bak", a symlink to outside deploy_to): never to be
	// removed, followed or counted.
	Junk bool
	// Risk names the questionable part of the configuration, if any.
	Risk string
	Ops  []Op
}

// OpKind is the kind of an operation.
type OpKind string

// The operations.
const (
	OpDeploy   OpKind = "deploy"
	OpRollback OpKind = "rollback"  // ROLLBACK_RELEASE per Op.Target
	OpTask     OpKind = "task"      // one standard task through the task mechanism
	OpUnlock   OpKind = "unlock"    // deploy:unlock
	OpTwo      OpKind = "two-runs"  // Flow and Second started at once, in two processes
	OpSignal   OpKind = "signal"    // Flow in a child process, Signal sent at a pause point
	OpHookFail OpKind = "hook-fail" // Flow with a hook that fails on one host
	OpHostLost OpKind = "host-lost" // Flow with one host's sshd killed before a command
	OpManual   OpKind = "manual"    // the team points current at a hand-made release (not 14 digits)

	// The operations below come from a stream of their own (genExtra) and
	// follow the others, so that adding them did not change the scenario
	// of any older seed (RegressionSeeds among them).

	// OpForeignUnlock: a deploy holds the lock from another PID namespace
	// (Variant "pid-namespace") or another machine with this hostname
	// ("machine"), its heartbeat fresh; deploy:unlock without FORCE and a
	// second deploy run meanwhile, then the holder goes on.
	OpForeignUnlock OpKind = "foreign-unlock"
	// OpHostileLock: a lock whose details hold a hostile run_id (Variant
	// names where it points: "shared", "releases", "outside", "shell") is
	// planted on Host, stale or (Fresh) fresh; deploy:unlock, FORCE=1
	// deploy:unlock if it refused, then a deploy.
	OpHostileLock OpKind = "hostile-lock"
	// OpSecretLine: a deploy whose hook prints, on Host, an output line of
	// Cut*32 KiB-Offset bytes, then a registered secret, then more: the
	// secret straddles (or touches) the console's line cap. With Fail, on
	// standard error by a command that fails.
	OpSecretLine OpKind = "secret-line"
	// OpFarFuture: a finished release named 99999999999999 is planted (on
	// every host, or on Host alone: Variant "all" or "one"), then a deploy.
	OpFarFuture OpKind = "far-future"
	// OpStuckRemoval: a file that cannot be removed (Variant "immutable":
	// chattr +i; "root-owned": in a directory of root's) is planted on Host
	// in the oldest finished release, then deploys until cleanup removes
	// it; then the obstacle goes and one more deploy runs.
	OpStuckRemoval OpKind = "stuck-removal"
)

// Op is one operation of a scenario.
type Op struct {
	Kind OpKind
	// Advance is how many seconds the clock moves before the op (0: the
	// same second as the previous op).
	Advance int
	// Flow is "deploy" or "rollback" (signal, hook-fail, host-lost, two-runs).
	Flow string
	// Second is the other run of two-runs: "deploy", "rollback" or
	// "deploy:cleanup".
	Second string
	// Task is the standard task of OpTask.
	Task string
	// Target picks ROLLBACK_RELEASE: "" (none), "previous", "oldest",
	// "current", "missing" (a 14-digit name that does not exist), "junk"
	// (a name that is not 14 digits).
	Target string
	// Signal is "SIGINT" or "SIGTERM".
	Signal string
	// Host is the index of the host the fault hits.
	Host int
	// Command and Step place a pause or a loss: before the Step-th program
	// the Command-th remote command of Host runs (Step past the end: after
	// the command, before its status is reported).
	Command, Step int
	// HookTask and HookAfter place a failing hook.
	HookTask  string
	HookAfter bool
	// Variant, Fresh, Cut, Offset and Fail shape the operations of
	// genExtra (see each kind).
	Variant     string
	Fresh       bool
	Cut, Offset int
	Fail        bool
}

// Faulty reports whether op injects a fault, so that it must fail.
func (op Op) Faulty() bool {
	return op.Kind == OpSignal || op.Kind == OpHookFail || op.Kind == OpHostLost
}

func (op Op) String() string {
	var s string
	switch op.Kind {
	case OpDeploy, OpUnlock, OpManual:
		s = string(op.Kind)
	case OpRollback:
		s = "rollback"
		if op.Target != "" {
			s += " ROLLBACK_RELEASE=<" + op.Target + ">"
		}
	case OpTask:
		s = "task " + op.Task
	case OpTwo:
		s = fmt.Sprintf("%s and %s at once", op.Flow, op.Second)
	case OpSignal:
		s = fmt.Sprintf("%s with %s before program %d of command %d on host%d", op.Flow, op.Signal, op.Step, op.Command, op.Host+1)
	case OpHookFail:
		when := "before"
		if op.HookAfter {
			when = "after"
		}
		s = fmt.Sprintf("%s with a hook %s %s failing on host%d", op.Flow, when, op.HookTask, op.Host+1)
	case OpHostLost:
		s = fmt.Sprintf("%s with host%d lost before its command %d", op.Flow, op.Host+1, op.Command)
	case OpForeignUnlock:
		s = fmt.Sprintf("deploy holding the lock from another %s with this hostname; deploy:unlock and a deploy meanwhile", map[string]string{"pid-namespace": "PID namespace", "machine": "machine"}[op.Variant])
	case OpHostileLock:
		age := "stale"
		if op.Fresh {
			age = "fresh"
		}
		s = fmt.Sprintf("%s lock with a hostile run_id (%s) on host%d; deploy:unlock, then deploy", age, op.Variant, op.Host+1)
	case OpSecretLine:
		how := "standard output"
		if op.Fail {
			how = "standard error of a failing command"
		}
		s = fmt.Sprintf("deploy printing a secret %d bytes before %d×32 KiB of a line on host%d (%s)", op.Offset, op.Cut, op.Host+1, how)
	case OpFarFuture:
		where := "every host"
		if op.Variant == "one" {
			where = fmt.Sprintf("host%d", op.Host+1)
		}
		s = "deploy with a release 99999999999999 on " + where
	case OpStuckRemoval:
		s = fmt.Sprintf("deploys until cleanup meets an unremovable (%s) file in the oldest release on host%d", op.Variant, op.Host+1)
	}
	return fmt.Sprintf("%s (clock +%ds)", s, op.Advance)
}

// String describes the scenario's configuration in one line.
func (sc Scenario) String() string {
	var syms []string
	for _, p := range sortedKeys(sc.Symlinks) {
		syms = append(syms, p+" -> "+sc.Symlinks[p])
	}
	return fmt.Sprintf("hosts=%d strategy=%s deploy_to=%q branch=%q keep_releases=%d linked_files=%q linked_dirs=%q committed_symlinks=%q junk=%v risk=%q",
		sc.Hosts, sc.Strategy, sc.DeployTo, sc.Branch, sc.KeepReleases, sc.LinkedFiles, sc.LinkedDirs, syms, sc.Junk, sc.Risk)
}

// Pools the generator draws from. Hostile names are valid ones: they must
// be deployed as data, and if a shell ever ran them they would create
// /srv/pwned-inv-*, which the checks look for.
var (
	deployToPool = []string{
		"/srv/app", "/srv/app", "/srv/my app", "/srv/it's here", "/srv/x;touch${IFS}/srv/pwned-inv-1",
		"/srv/$(touch /srv/pwned-inv-2)", "/srv/a`touch /srv/pwned-inv-3`b", "/srv/ünï cødé/app", "/srv/-dash/app",
	}
	branchPool = []string{
		"main", "main", "main", "release/it's", "x;touch${IFS}/srv/pwned-inv-4", "$(touch${IFS}/srv/pwned-inv-5)", "a|b&c",
	}
	// The linked paths of a clean configuration: none inside another.
	linkedFilePool = []string{"config/secrets.yml", "config/it's secret.yml", ".env", "config/database.yml"}
	linkedDirPool  = []string{"log", "tmp/pids", "public/uploads", "storage/cache", "vendor/bundle", "it's data", "$(touch${IFS}/srv/pwned-inv-6)"}
	// symlinkPool are the symlinks a repository may commit; storage points
	// outside deploy_to, into the sentinel tree.
	symlinkPool = map[string]string{
		"docs":               "README.md",
		"storage":            "/srv/outside/storage",
		"config/current.yml": "app.yml",
	}
	// risks are the questionable configurations, one of which about a third
	// of the scenarios get: a careful tool either handles them without
	// losing data or refuses them before changing anything.
	risks = []string{
		"nested linked dirs public and public/uploads",
		"linked file log/production.log inside linked dir log",
		"linked dir log given twice",
		"linked dir storage/cache below the committed symlink storage -> /srv/outside/storage",
		"linked file storage/keep.txt below the committed symlink storage -> /srv/outside/storage",
		"upload directory given as a symlink to the build directory",
	}
	// flowTasks are the tasks of each flow a failing hook may hang on;
	// "check" and "create_release" stand for the strategy's tasks.
	deployFlowTasks = []string{
		"deploy:starting", "deploy:check", "check", "deploy:check:directories", "deploy:lock",
		"deploy:set_previous_revision", "deploy:started", "deploy:updating", "deploy:new_release_path",
		"create_release", "deploy:set_current_revision", "deploy:symlink:shared", "deploy:symlink:linked_files",
		"deploy:symlink:linked_dirs", "deploy:updated", "deploy:publishing", "deploy:symlink:release",
		"deploy:published", "deploy:finishing", "deploy:cleanup", "deploy:finished", "deploy:log_revision",
	}
	rollbackFlowTasks = []string{
		"deploy:starting", "deploy:check", "deploy:lock", "deploy:started", "deploy:reverting",
		"deploy:revert_release", "deploy:reverted", "deploy:publishing", "deploy:symlink:release",
		"deploy:published", "deploy:finishing_rollback", "deploy:cleanup_rollback", "deploy:finished",
		"deploy:log_revision",
	}
	// standardTaskPool are the tasks run on their own (mage <stage> task
	// <name>): every standard task but the two flows.
	standardTaskPool = []string{
		"deploy:starting", "deploy:started", "deploy:updating", "deploy:updated", "deploy:publishing",
		"deploy:published", "deploy:finishing", "deploy:finished", "deploy:reverting", "deploy:reverted",
		"deploy:finishing_rollback", "deploy:failed", "deploy:check", "deploy:check:directories", "deploy:lock",
		"deploy:unlock", "deploy:set_previous_revision", "deploy:new_release_path", "deploy:set_current_revision",
		"deploy:symlink:shared", "deploy:symlink:linked_files", "deploy:symlink:linked_dirs",
		"deploy:symlink:release", "deploy:cleanup", "deploy:cleanup_rollback", "deploy:revert_release",
		"deploy:log_revision", "git:check", "git:clone", "git:update", "git:create_release", "upload:check",
		"upload:create_release",
	}
)

// Generate returns the scenario of seed: the same seed always gives the
// same scenario.
func Generate(seed uint64) Scenario {
	rng := rand.New(rand.NewPCG(seed, 0x1a2b3c4d))
	pick := func(pool []string) string { return pool[rng.IntN(len(pool))] }
	sc := Scenario{
		Seed:         seed,
		Hosts:        2 + rng.IntN(2),
		DeployTo:     pick(deployToPool),
		Branch:       pick(branchPool),
		KeepReleases: 1 + rng.IntN(5),
		Junk:         rng.IntN(4) == 0,
	}
	strategies := []Strategy{GitStrategy, GitStrategy, GitShallow, UploadArchive, UploadDir, UploadDir, UploadEmpty}
	sc.Strategy = strategies[rng.IntN(len(strategies))]

	sc.Files = map[string]string{
		"README.md":            "# app\n",
		"config/app.yml":       "name: app\n",
		"config/database.yml":  "adapter: sqlite3\n",
		"public/index.html":    "<h1>app</h1>\n",
		"public/uploads/.keep": "",
		"bin/hello":            "#!/bin/sh\necho hello\n",
		"lib/it's code.sh":     "hello() { echo hi; }\n",
		"log/.keep":            "",
	}
	sc.Symlinks = map[string]string{}
	for _, p := range sortedKeys(symlinkPool) {
		if rng.IntN(3) == 0 {
			sc.Symlinks[p] = symlinkPool[p]
		}
	}
	for _, p := range linkedFilePool {
		if rng.IntN(3) == 0 {
			sc.LinkedFiles = append(sc.LinkedFiles, p)
		}
	}
	for _, p := range linkedDirPool {
		if rng.IntN(3) == 0 && !(p == "storage/cache" && sc.Symlinks["storage"] != "") {
			sc.LinkedDirs = append(sc.LinkedDirs, p)
		}
	}
	if rng.IntN(10) < 3 {
		sc.Risk = risks[rng.IntN(len(risks))]
		add := func(list *[]string, ps ...string) {
			for _, p := range ps {
				if !slices.Contains(*list, p) {
					*list = append(*list, p)
				}
			}
		}
		switch sc.Risk {
		case risks[0]:
			add(&sc.LinkedDirs, "public", "public/uploads")
		case risks[1]:
			add(&sc.LinkedDirs, "log")
			add(&sc.LinkedFiles, "log/production.log")
		case risks[2]:
			sc.LinkedDirs = append(sc.LinkedDirs, "log", "log")
		case risks[3]:
			sc.Symlinks["storage"] = symlinkPool["storage"]
			add(&sc.LinkedDirs, "storage/cache")
		case risks[4]:
			sc.Symlinks["storage"] = symlinkPool["storage"]
			add(&sc.LinkedFiles, "storage/keep.txt")
		case risks[5]:
			sc.Strategy = UploadSymlink
		}
	}

	n := 2 + rng.IntN(4)
	for i := 0; i < n; i++ {
		var op Op
		switch {
		case i == 0 && rng.IntN(5) > 0:
			op = Op{Kind: OpDeploy}
		case i > 0 && sc.Ops[i-1].Kind == OpManual && rng.IntN(2) == 0:
			// What a rollback does with a current made by hand.
			op = Op{Kind: OpRollback}
		case i == n-1 && rng.IntN(6) == 0:
			op = Op{Kind: OpHostLost, Flow: pickFlow(rng), Host: rng.IntN(sc.Hosts), Command: 1 + rng.IntN(8)}
		default:
			op = genOp(rng, sc)
		}
		op.Advance = []int{0, 1, 1, 2, 2, 3, 60}[rng.IntN(7)]
		sc.Ops = append(sc.Ops, op)
	}
	// After a host is lost every run fails to reach it: the extra
	// operations would only show that again.
	if sc.Ops[len(sc.Ops)-1].Kind == OpHostLost {
		return sc
	}
	extra := rand.New(rand.NewPCG(seed, extraStream))
	for range extra.IntN(3) {
		op := genExtra(extra, sc)
		op.Advance = []int{0, 1, 2, 60}[extra.IntN(4)]
		sc.Ops = append(sc.Ops, op)
	}
	return sc
}

// extraStream seeds the random stream of genExtra, apart from the one the
// rest of a scenario is drawn from.
const extraStream = 0x5eed0002

// genExtra draws one of the operations added after the first generator:
// each plants something a server may really hold (a live lock of another
// machine, hostile lock details, a release named in the far future, a file
// that cannot be removed) or prints what must be redacted, then runs what
// must cope with it.
func genExtra(rng *rand.Rand, sc Scenario) Op {
	pick := func(pool ...string) string { return pool[rng.IntN(len(pool))] }
	host := rng.IntN(sc.Hosts)
	switch rng.IntN(5) {
	case 0:
		return Op{Kind: OpForeignUnlock, Flow: "deploy", Variant: pick("pid-namespace", "machine")}
	case 1:
		return Op{Kind: OpHostileLock, Variant: pick("shared", "releases", "outside", "shell"), Fresh: rng.IntN(3) == 0, Host: host}
	case 2:
		// Around the cap: the secret ends just before it, straddles it,
		// or starts right at it; once in a while at the second cut.
		offsets := []int{0, 1, secretLen / 2, secretLen - 1, secretLen, secretLen + 1, -1, 3 + rng.IntN(secretLen-4)}
		return Op{Kind: OpSecretLine, Flow: "deploy", Cut: 1 + rng.IntN(4)/3, Offset: offsets[rng.IntN(len(offsets))], Fail: rng.IntN(3) == 0, Host: host}
	case 3:
		return Op{Kind: OpFarFuture, Flow: "deploy", Variant: pick("all", "all", "one"), Host: host}
	default:
		return Op{Kind: OpStuckRemoval, Flow: "deploy", Variant: pick("immutable", "root-owned"), Host: host}
	}
}

// secretLen is the length of the secret an OpSecretLine prints.
const secretLen = 24

// Regression is a seed that once broke an invariant, kept so that every
// run of the suite (CI's included) plays it again.
type Regression struct {
	Seed uint64
	// Op is the operation that broke it (as Op.String prints it), so a
	// change of the generator that would replay something else is seen.
	Op  string
	Why string
}

// RegressionSeeds are the seeds of past findings, played by every run of
// the suite besides the generated ones.
var RegressionSeeds = []Regression{
	{710083488, "deploy and rollback at once (clock +1s)", "the rollback released its lock between the deploy's ln -sn and its look at the lock for the holder: the take failed with nothing to say (a race; TestLockReleasedDuringTakeIsTakenOnRetry makes it deterministic)"},
	{968455773, "task deploy:updating (clock +60s)", "a lone deploy:updating leaves its release marked unfinished (the model had no place for it)"},
	{968455912, "task deploy:updating (clock +2s)", "a lone deploy:updating after two runs at once"},
	{968455957, "task deploy:updating (clock +1s)", "a lone deploy:updating after a refused rollback"},
	{968455960, "task deploy:updating (clock +2s)", "a lone deploy:updating, then a deploy whose cleanup must remove it"},
	{968455924, "deploy with a hook after deploy:published failing on host2 (clock +2s)", "an upload directory given as a symlink is deployed (not refused), so a failure after publishing keeps the new release"},
	{764714279, "deploys until cleanup meets an unremovable (immutable) file in the oldest release on host2 (clock +60s)", "the host already held more finished releases than keep_releases, and the operation deployed zero times"},
	{764713607, "deploy with SIGINT before program 1 of command 2 on host2 (clock +2s)", "the interrupt stopped host1's script between creating its release's unfinished marker and writing the run id into it: deploy:failed left the empty marker (a race; TestMarkerWrittenWholeOrNotAtAll makes it deterministic)"},
	{294, "deploy and deploy:cleanup at once (clock +1s)", "with the lock sent to every host at once, the lone task (which locks the first host alone, then the others) took the first host's lock and did not wait for the deploy, which lost there, to let go of the second's: both were refused"},
	{849763740, "deploy and rollback at once (clock +60s)", "the rollback got the first host's lock, waited for the deploy to let go of the second's and went on (to fail for want of an older release); its console line about the wait said \"the deploy lock is held by\", so the check counted it as refused too"},
}

func pickFlow(rng *rand.Rand) string {
	if rng.IntN(3) == 0 {
		return "rollback"
	}
	return "deploy"
}

// genOp draws one operation other than host-lost.
func genOp(rng *rand.Rand, sc Scenario) Op {
	switch w := rng.IntN(100); {
	case w < 30:
		return Op{Kind: OpDeploy}
	case w < 42:
		targets := []string{"", "", "", "previous", "oldest", "current", "missing", "junk"}
		return Op{Kind: OpRollback, Target: targets[rng.IntN(len(targets))]}
	case w < 57:
		return Op{Kind: OpTask, Task: standardTaskPool[rng.IntN(len(standardTaskPool))]}
	case w < 61:
		return Op{Kind: OpUnlock}
	case w < 68:
		seconds := []string{"deploy", "deploy", "rollback", "deploy:cleanup"}
		return Op{Kind: OpTwo, Flow: "deploy", Second: seconds[rng.IntN(len(seconds))]}
	case w < 80:
		sig := "SIGINT"
		if rng.IntN(2) == 0 {
			sig = "SIGTERM"
		}
		return Op{Kind: OpSignal, Flow: pickFlow(rng), Signal: sig, Host: rng.IntN(sc.Hosts), Command: 1 + rng.IntN(9), Step: 1 + rng.IntN(5)}
	case w < 92:
		flow := pickFlow(rng)
		pool := deployFlowTasks
		if flow == "rollback" {
			pool = rollbackFlowTasks
		}
		task := pool[rng.IntN(len(pool))]
		return Op{Kind: OpHookFail, Flow: flow, HookTask: task, HookAfter: rng.IntN(2) == 0, Host: rng.IntN(sc.Hosts)}
	default:
		return Op{Kind: OpManual}
	}
}

// StrategyTask resolves the placeholders of the flow task lists ("check",
// "create_release") for strategy s.
func StrategyTask(s Strategy, name string) string {
	prefix := "upload:"
	if s.IsGit() {
		prefix = "git:"
	}
	switch name {
	case "check", "create_release":
		return prefix + name
	}
	return name
}

// Overlapping reports the pairs of linked paths of sc where one is the
// other or lies inside it: a configuration a careful tool may refuse.
func (sc Scenario) Overlapping() []string {
	all := append(slices.Clone(sc.LinkedFiles), sc.LinkedDirs...)
	var out []string
	for i, a := range all {
		for _, b := range all[i+1:] {
			if a == b || strings.HasPrefix(b, a+"/") || strings.HasPrefix(a, b+"/") {
				out = append(out, a+" & "+b)
			}
		}
	}
	return out
}

// questionable reports why a careful tool may refuse sc's configuration
// ("" if it may not): overlapping linked paths, a linked path below a
// committed symlink, an empty upload directory. An upload directory given
// as a symlink is not: Upload{Dir} follows a symlinked root, so its deploy
// must succeed and hold the build's files (seed 968455924 found the model
// still treating it as refusable).
func (sc Scenario) questionable() string {
	if o := sc.Overlapping(); len(o) > 0 {
		return "overlapping linked paths " + strings.Join(o, ", ")
	}
	for _, p := range append(slices.Clone(sc.LinkedFiles), sc.LinkedDirs...) {
		for s := range sc.Symlinks {
			if strings.HasPrefix(p, s+"/") || p == s {
				return "linked path " + p + " below the committed symlink " + s
			}
		}
	}
	if sc.Strategy == UploadEmpty {
		return "the upload directory is empty"
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Features lists what a scenario exercises: its strategy, its risk, the
// kinds of its operations and, when its configuration is not one a tool
// may refuse (so that the operations really run), the variants of the
// newer ones.
func (sc Scenario) Features() []string {
	f := []string{"strategy " + string(sc.Strategy)}
	if sc.Risk != "" {
		f = append(f, "risk "+sc.Risk)
	}
	for _, op := range sc.Ops {
		f = append(f, "op "+string(op.Kind))
		if sc.questionable() != "" {
			continue
		}
		if op.Variant != "" {
			f = append(f, "op "+string(op.Kind)+" "+op.Variant)
		}
		if op.Kind == OpSecretLine && op.Fail {
			f = append(f, "op "+string(op.Kind)+" failing")
		}
	}
	return f
}

// CISeeds returns n seeds that between them exercise every strategy,
// every risk and every kind of operation: chosen greedily among the seeds
// 1 to 1000, each the one that adds the most features the ones before
// lack (the smallest on a tie), then, if fewer than n were needed, the
// smallest seeds not chosen. More than n are returned only if n cannot
// cover everything. The same generator always gives the same list.
func CISeeds(n int) []uint64 {
	const pool = 1000
	features := make([][]string, pool+1)
	all := map[string]bool{}
	for seed := 1; seed <= pool; seed++ {
		features[seed] = Generate(uint64(seed)).Features()
		for _, f := range features[seed] {
			all[f] = true
		}
	}
	covered := map[string]bool{}
	chosen := map[uint64]bool{}
	var out []uint64
	for len(covered) < len(all) {
		best, gain := 0, 0
		for seed := 1; seed <= pool; seed++ {
			g := 0
			seen := map[string]bool{}
			for _, f := range features[seed] {
				if !covered[f] && !seen[f] {
					g++
					seen[f] = true
				}
			}
			if g > gain {
				best, gain = seed, g
			}
		}
		for _, f := range features[best] {
			covered[f] = true
		}
		chosen[uint64(best)] = true
		out = append(out, uint64(best))
	}
	for seed := uint64(1); len(out) < n; seed++ {
		if !chosen[seed] {
			out = append(out, seed)
		}
	}
	slices.Sort(out)
	return out
}
