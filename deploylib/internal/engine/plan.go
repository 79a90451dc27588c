package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/console"
	"github.com/capstan-deploy/capstan/deploylib/internal/script"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// The planner: consecutive standard tasks with no hook between them run as
// one remote command per host, a script of steps (internal/script), and are
// still reported task by task.
//
// Every remote command costs at least one network round trip, so a deploy
// of eleven commands per host pays eleven; planned, a deploy pays three:
// [git:check, deploy:check:directories, deploy:lock,
// deploy:set_previous_revision ... deploy:symlink:linked_dirs],
// [deploy:symlink:release, and deploy:health_check when configured],
// [deploy:cleanup, deploy:log_revision, the lock's release]. The release
// is built in the script that takes the lock without waiting for the other
// hosts' answers: deploy:new_release_path names it from the clock and
// checks the name on each host, and git:update resolves the branch on each
// (deploy.go, git.go). What separates scripts:
//   - a hook (Before, After, Append) on any task on the way: it runs where
//     it always ran, after the tasks before it ended on every host and
//     before any task after it started anywhere;
//   - publishing (the switch of current, then the health check), which
//     is all or nothing across hosts and so a barrier between hosts: its
//     steps (alone) share a script only with each other;
//   - a task without a plan (upload steps; a team's own tasks);
//   - a task that needs what an earlier task of the same script answers
//     (git:update with more hosts than may fetch at once: the revision
//     git:check pins, where each mirror is);
//   - on several hosts, a declarative hook after the lock whose go-ahead
//     did not come (segment.decide): the script stopped before it on
//     every host, and it starts the next script.
//
// When the flow reaches the first task of such a run, the engine builds
// every host's script from the tasks' steps, sends them, and reports the
// first task once every host has run its step (or stopped); each later
// task is reported when the flow reaches it, as if it had run then: its
// console line, each host's command with its output, ✔ or ✘ and duration,
// the same lines in the log file, which also keeps every script as sent.
// A step that fails ends its host's script; the task whose step failed
// fails, naming the host, and the tasks after it are not reported as run.
// Other hosts may have run further: what those steps did is recorded
// (settle), so that the failure handling (deploy:failed, the lock's
// release) knows it.
//
// Not planned: a dry run (each command is shown on its own), and tasks
// invoked by hand or as hooks.

// A step is one task's part of a script: its command on each host, and
// what to make of the answers, as the task does when it runs on its own.
type step struct {
	task *Task // nil for the lock's release that ends a run (releaseStep)
	// local does the task's work on this machine; it runs while the
	// script is built, and its task has no command.
	local func(ctx context.Context) error
	// cmd is the command for h; ok false when h has nothing to do.
	cmd func(h *Host) (c shell.Command, ok bool)
	// opts says how the command is shown (hidden, captured).
	opts runOpts
	// done reads h's answer (out untrimmed; err a *CommandError), as the
	// task's On block does; its error fails h.
	done func(ctx context.Context, h *Host, out string, err error) error
	// finish runs once every host is done, with their errors joined.
	finish func(ctx context.Context, err error) error
	// sending is called just before a script holding the step goes to
	// h; unsent when the script certainly stopped before the step.
	sending, unsent func(h *Host)
	// settle records what the step did on h when the flow stopped before
	// reporting it.
	settle func(h *Host, out string, err error)
	// ordered: the first host by name decides (the lock): on its own, the
	// step runs there alone, and on the others only when proceed says so
	// of that host's answer; in a script, every host runs it at once and
	// the first host's answer says whether a refusal elsewhere is waited
	// out (segment.start).
	ordered bool
	proceed func(out string, err error) bool
	// needsTurn: h's script waits for one of turns slots (the fetches
	// Git.MaxConcurrent allows at once).
	needsTurn func(h *Host) bool
	turns     int
	// last: no step may follow it in a script (its done runs commands).
	last bool
	// alone: publishing, all or nothing across hosts (the switch of
	// current, the health check): shares a script only with such steps.
	alone bool
	// on: the hosts the step runs on alone, when not the release hosts
	// (a declarative task's selection).
	on []*Host
	// gate stops h's script after the step when its answer fails it: it
	// must fail exactly where done fails on the answer alone.
	gate script.Gate
	// cuts: a gate that stops h's script here is no failure; finish
	// decides what follows (it may cut the script after the step).
	cuts bool
	// keep names the shell variable that keeps the step's output for a
	// later step of the same script (script.Step.Keep).
	keep string
	// awaits: a team's command after the lock, in the script that takes
	// it on several hosts. Each host's script waits before it for the
	// run's go-ahead (segment.decide), so that it never runs for a run
	// that another run's lock refuses.
	awaits bool
	// clears says whether h's answer to an ordered or cutting step lets
	// the steps that await go ahead, beyond its gate (the lock's listing
	// shows no release the new one would not sort after).
	clears func(h *Host, out string) bool
}

// stepBuilder is a standard task's definition: it returns the task's step
// as a member of seg (an empty seg when the task runs alone), or
// errNotHere when the task cannot join seg (it needs what a step of seg
// answers), or the error that refuses the task.
type stepBuilder func(ctx context.Context, r *Run, seg *segment, t *Task) (*step, error)

// errNotHere is a stepBuilder's answer for a task that cannot join the
// script being built: it runs on its own, after it.
var errNotHere = errors.New("the task cannot join this script")

// planner owns a run's planning: the root's flow, flattened, where the
// flow is in it, and the script being reported. It keeps a pointer to its
// run, which the tasks' stepBuilders and the scripts (segment) work with:
// the hook registry and the configuration say what the flow is, and which
// tasks ran says where it is.
type planner struct {
	r      *Run
	mu     sync.Mutex
	flat   []*Task // the root's flow: tasks with an action, nil for a hook
	built  bool
	cursor int      // where in flat the flow is
	seg    *segment // the script being reported, nil when none
	count  int      // scripts built, for their tokens
	// unfused runs every task alone, as a dry run does: the differential
	// test compares such a run with a planned one.
	unfused bool
}

type byHandKey struct{}

// byHand marks ctx as that of a task invoked by hand (Invoke, Reinvoke) or
// as a hook: its tasks run as they always did, one command at a time, so
// that nothing after the hook's own position starts early.
func byHand(ctx context.Context) context.Context { return context.WithValue(ctx, byHandKey{}, true) }

// flatten appends t's flow to out: tasks with an action in the order
// invoke runs them, and nil where a hook runs that the planner cannot see
// into (a function, or a task that is not declarative). A declarative
// hook (RemoteTask) is flattened like a step of its task, so that it joins
// the scripts around it. This is the one place the planner asks the hook
// registry.
func (p *planner) flatten(t *Task, seen map[*Task]bool, out []*Task) []*Task {
	r := p.r
	if seen[t] {
		return out // a task runs once per run
	}
	seen[t] = true
	before, appended, after := r.setup.hooks.on(t)
	out = p.flattenHooks(before, seen, out)
	if t.steps != nil {
		for _, s := range t.steps(r.Config) {
			out = p.flatten(s, seen, out)
		}
	}
	if t.runs() {
		out = append(out, t)
	}
	out = p.flattenHooks(appended, seen, out)
	return p.flattenHooks(after, seen, out)
}

// flattenHooks appends hooks to out in the order invoke runs them.
func (p *planner) flattenHooks(hooks []hook, seen map[*Task]bool, out []*Task) []*Task {
	for _, h := range hooks {
		if h.inline() {
			out = p.flatten(h.task, seen, out)
		} else {
			out = append(out, nil)
		}
	}
	return out
}

// act runs t's definition: as part of a script when t is planned, else
// alone (runAlone), or its action.
func (p *planner) act(ctx context.Context, t *Task) error {
	p.mu.Lock()
	seg := p.seg
	p.mu.Unlock()
	if seg != nil {
		switch {
		case seg.has(t) && seg.heldBack(t):
			// Every host's script stopped before t, which starts the next.
			seg.cutBefore(t)
		case seg.has(t):
			return seg.report(ctx, t)
		default:
			p.end() // the flow left the script: should not happen
		}
	}
	if seg := p.buildSegment(ctx, t); seg != nil {
		return seg.report(ctx, t)
	}
	if t.plan != nil {
		return p.runAlone(ctx, t)
	}
	return t.action(ctx)
}

// runAlone runs t's step on its own: its command on every release host
// (one command each, in parallel; the ordered step on the first host by
// name first, the others only when its answer says so; at most turns
// hosts at once), each host's answer read by done, then finish.
func (p *planner) runAlone(ctx context.Context, t *Task) error {
	r := p.r
	seg := &segment{r: r}
	seg.hosts, _ = ReleaseHosts()(r)
	s, err := t.plan(ctx, r, seg, t)
	switch {
	case err != nil:
		return err
	case s.local != nil:
		return s.local(ctx)
	case s.cmd == nil:
		return nil // nothing to do with this configuration
	}
	var mu sync.Mutex
	answers := map[*Host]string{}
	var first *Host // the ordered step's first host, once it answered
	sent := time.Now()
	one := func(ctx context.Context, h *Host) error {
		c, ok := s.cmd(h)
		if !ok {
			return nil
		}
		if s.sending != nil {
			s.sending(h)
		}
		out, err := h.runCommand(ctx, c, s.opts)
		if holder, held := heldBy(out, err); (held || err != nil && connectErrorOf(err) == nil) && first != nil && h != first {
			// This run took the first host's lock: a run that started
			// with it lets go of the others' (lock.go).
			r.lock.waitOutContender(ctx, h, first, holder, sent, func() (LockInfo, bool, bool) {
				out, err = h.runCommand(ctx, c, s.opts)
				holder, held := heldBy(out, err)
				return holder, held, !held && err != nil && connectErrorOf(err) == nil
			})
		}
		mu.Lock()
		answers[h] = out
		mu.Unlock()
		if s.done == nil {
			return err
		}
		return s.done(ctx, h, out, err)
	}
	hosts := seg.hosts
	if s.on != nil {
		hosts = s.on
	}
	if s.ordered && len(hosts) > 1 {
		// The first host by name decides (lock.go): the others follow
		// only when its answer says so.
		hosts = slices.Clone(hosts)
		slices.SortStableFunc(hosts, func(a, b *Host) int { return strings.Compare(a.Server.Host, b.Server.Host) })
		err = On(ctx, hostsOf(hosts[:1]), one)
		if err == nil && s.proceed(answers[hosts[0]], nil) {
			first = hosts[0]
			err = On(ctx, hostsOf(hosts[1:]), one)
		}
	} else {
		err = On(ctx, hostsOf(hosts), one, InGroups(s.turns, 0))
	}
	if s.finish != nil {
		err = s.finish(ctx, err)
	}
	return err
}

// hostsOf is the selector of the given hosts.
func hostsOf(hosts []*Host) Selector {
	return func(*Run) ([]*Host, error) { return hosts, nil }
}

// end waits for the script under way, if any, and records what its
// unreported steps did.
func (p *planner) end() {
	p.mu.Lock()
	seg := p.seg
	p.seg = nil
	p.mu.Unlock()
	if seg != nil {
		seg.abandon()
	}
}

// buildSegment builds and starts the script that begins with t, when the
// flow is at t and at least one task after it can join it.
func (p *planner) buildSegment(ctx context.Context, t *Task) *segment {
	r := p.r
	if r.dryRun || p.unfused || r.root == nil || ctx.Value(byHandKey{}) != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.built {
		p.flat, p.built = p.flatten(r.root, map[*Task]bool{}, nil), true
	}
	// t must be the next task of the flow, past those that ran already.
	j := -1
	for k := p.cursor; k < len(p.flat); k++ {
		if p.flat[k] == t {
			j = k
			break
		}
		if p.flat[k] != nil && !r.invoked.was(p.flat[k]) {
			break
		}
	}
	if j < 0 {
		return nil
	}
	p.cursor = j + 1
	p.count++
	seg := &segment{r: r, token: r.ID + "-" + strconv.Itoa(p.count), at: j, ended: make(chan struct{})}
	seg.cond = sync.NewCond(&seg.mu)
	seg.hosts, _ = ReleaseHosts()(r)
	atEnd := true
	for k := j; k < len(p.flat); k++ {
		task := p.flat[k]
		if task == nil || task.plan == nil || (k > j && r.invoked.was(task)) {
			atEnd = false
			break
		}
		s, err := task.plan(ctx, r, seg, task)
		if err != nil || k > j && s.alone != seg.steps[0].alone { // it runs alone (which says why it fails)
			atEnd = false
			break
		}
		s.task = task
		seg.steps = append(seg.steps, s)
		seg.localErr = append(seg.localErr, nil)
		if s.local != nil {
			if err := s.local(ctx); err != nil {
				seg.localErr[len(seg.localErr)-1] = err
				atEnd = false
				break
			}
		}
		if s.last {
			atEnd = false
			break
		}
	}
	if atEnd && !seg.steps[0].alone && r.root != Lock && (seg.has(Lock) || r.lock.holdsSomewhere()) {
		// Nothing runs after the last task: the lock's release joins it.
		seg.steps = append(seg.steps, r.lock.releaseStep(seg))
		seg.localErr = append(seg.localErr, nil)
	}
	if len(seg.steps) == 0 || len(seg.steps) == 1 && seg.steps[0].local == nil {
		return nil // one task alone runs as it always did
	}
	p.cursor = j + len(seg.steps)
	p.seg = seg
	seg.start(ctx)
	return seg
}

// segment is a run of steps sent as one script per host.
type segment struct {
	r        *Run
	token    string
	steps    []*step
	localErr []error
	hosts    []*Host
	at       int // where the first step is in the planner's flat flow

	mu    sync.Mutex
	cond  *sync.Cond
	runs  map[*Host]*hostRun
	next  int           // the first step not reported yet
	ended chan struct{} // closed once every host's script ended
	// logged maps the text of each script logged in full to the host it
	// was first sent to: a host sent the same text logs one line naming
	// that host instead. It is dropped once every host's script ended.
	logged map[string]string
	// scripts are the first scripts built (at most maxScripts), which a
	// host whose script has the same text is sent as they are. scriptMu
	// guards it: hosts wait for the one building a script, rather than
	// all building the same text at once.
	scriptMu sync.Mutex
	scripts  []shell.Command
	// awaitAt is the first step that awaits the run's go-ahead (-1 when
	// none does); decided is closed once goAhead says whether it came.
	awaitAt int
	decided chan struct{}
	goAhead bool
}

// maxScripts bounds the scripts a segment keeps for hosts to share, and
// the comparisons a host whose script is like no other's makes.
const maxScripts = 4

// hostRun is one host's script and its answers.
type hostRun struct {
	built bool // its script is built: res says which steps it has
	ended bool
	// deciding: the host's answer to the lock may be taken again once
	// the first host answered (segment.start); until it ended, its lock
	// step and those after it are not over.
	deciding bool
	gated    bool // a step's gate stopped the script
	// announced: the script was logged as sent, so the log shows it
	// before any of its steps is reported.
	announced bool
	// tried: the host's first script ended; retaken: its lock is being
	// taken again (awaitFirstLock), so its first answers do not count.
	tried, retaken bool
	res            []stepResult
}

// stepResult is how one step went on one host.
type stepResult struct {
	included bool // the host's script has the step
	ran      bool // it started (then it has an answer, or an error)
	noExec   bool // it never reached the host (dial failed, interrupted)
	outDone  bool // its marker came on standard output
	errDone  bool // and on standard error
	cmd      string
	shown    string
	out      []byte
	errOut   []byte
	status   int
	err      error // a *CommandError, or nil
	took     time.Duration
}

// fused reports whether seg is a script being built, not one task run
// alone (runAlone).
func (seg *segment) fused() bool { return seg.token != "" }

func (seg *segment) has(t *Task) bool {
	for _, s := range seg.steps {
		if s.task == t {
			return true
		}
	}
	return false
}

// start sends every host's script.
//
// A script holding the lock (an ordered step) goes to every host at once.
// Of runs that start together, the one that takes the lock on the first
// host by name proceeds (lock.go): a host of this run whose lock another
// run holds waits, before its step is reported, for the first host's
// answer; when this run took the first host's lock, and the other run
// took its lock on h about as this one started (it lost the first host
// and is letting go), h takes the lock again, for up to
// lockContenderWait, and runs the rest of its script.
func (seg *segment) start(ctx context.Context) {
	seg.runs = map[*Host]*hostRun{}
	for _, h := range seg.hosts {
		seg.runs[h] = &hostRun{res: make([]stepResult, len(seg.steps))}
	}
	ordered := -1
	turns := 0
	var needsTurn []func(*Host) bool
	for k, s := range seg.steps {
		if s.ordered && ordered < 0 {
			ordered = k
		}
		if s.needsTurn != nil {
			needsTurn = append(needsTurn, s.needsTurn)
			turns = max(turns, s.turns)
		}
	}
	var first *Host
	if ordered >= 0 && len(seg.hosts) > 1 {
		hosts := slices.Clone(seg.hosts)
		slices.SortStableFunc(hosts, func(a, b *Host) int { return strings.Compare(a.Server.Host, b.Server.Host) })
		first = hosts[0]
		for _, h := range hosts[1:] {
			seg.runs[h].deciding = true
		}
	}
	var slots chan struct{}
	if turns > 0 {
		slots = make(chan struct{}, turns)
	}
	seg.awaitAt = slices.IndexFunc(seg.steps, func(s *step) bool { return s.awaits })
	if seg.awaitAt >= 0 {
		seg.decided = make(chan struct{})
		go seg.decide()
	}
	sent := time.Now()
	run := func(h *Host, upto int) {
		defer seg.hostEnded(h)
		if slots != nil && slices.ContainsFunc(needsTurn, func(f func(*Host) bool) bool { return f(h) }) {
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
			case <-ctx.Done():
			}
		}
		seg.runHost(ctx, h, 0, upto)
		seg.mu.Lock()
		seg.runs[h].tried = true
		seg.cond.Broadcast()
		seg.mu.Unlock()
		if first != nil && h != first {
			seg.awaitFirstLock(ctx, h, first, ordered, upto, sent)
		}
	}
	go func() {
		defer close(seg.ended)
		upto := len(seg.steps)
		if !seg.connected(ctx) {
			// A host cannot be reached: its first step fails there, and no
			// host goes past that step, as when each task ran on its own.
			if k := slices.IndexFunc(seg.steps, func(s *step) bool { return s.cmd != nil }); k >= 0 {
				upto = k + 1
			}
		}
		inParallel(seg.hosts, func(_ int, h *Host) { run(h, upto) })
		seg.mu.Lock()
		seg.logged = nil // no script is sent any more
		seg.mu.Unlock()
		seg.scriptMu.Lock()
		seg.scripts = nil
		seg.scriptMu.Unlock()
	}()
}

// hostEnded records that h's script, and any retake of its lock, ended.
func (seg *segment) hostEnded(h *Host) {
	seg.mu.Lock()
	defer seg.mu.Unlock()
	hr := seg.runs[h]
	hr.ended, hr.deciding = true, false
	seg.cond.Broadcast()
}

// awaitFirstLock decides, once the first host answered, what h's lock
// answer means when another run holds h's lock (see start), taking the
// lock again while the holder is a contender that lost.
func (seg *segment) awaitFirstLock(ctx context.Context, h, first *Host, k, upto int, sent time.Time) {
	r, s := seg.r, seg.steps[k]
	held := func(res stepResult) (LockInfo, bool) {
		if !res.included || !res.ran {
			return LockInfo{Idle: -1, age: -1}, false
		}
		return heldBy(string(res.out), res.err)
	}
	seg.mu.Lock()
	hr := seg.runs[h]
	res := hr.res[k]
	holder, isHeld := held(res)
	if !isHeld && !(res.ran && res.err != nil && connectErrorOf(res.err) == nil) {
		seg.mu.Unlock()
		return
	}
	// The first host's answer to the lock decides; the rest of its
	// script (the release, in the script that takes the lock) may still
	// run.
	for fr := &seg.runs[first].res[k]; !seg.runs[first].ended && !(fr.outDone && fr.errDone); {
		seg.cond.Wait()
	}
	fr := seg.runs[first].res[k]
	seg.mu.Unlock()
	if !fr.included || !fr.ran || fr.err != nil || !s.proceed(string(fr.out), nil) {
		return // this run did not take the first host's lock: h's answer stands
	}
	r.lock.waitOutContender(ctx, h, first, holder, sent, func() (LockInfo, bool, bool) {
		seg.mu.Lock()
		for j := k; j < upto; j++ {
			hr.res[j] = stepResult{}
		}
		hr.gated, hr.retaken = false, true
		seg.cond.Broadcast()
		seg.mu.Unlock()
		seg.runHost(ctx, h, k, upto)
		seg.mu.Lock()
		res := hr.res[k]
		seg.mu.Unlock()
		holder, isHeld := held(res)
		return holder, isHeld, !isHeld && res.ran && res.err != nil && connectErrorOf(res.err) == nil
	})
}

// decide gives the run's go-ahead to the steps that await it (awaitAt and
// after: a team's command after the lock, in the script that takes it on
// several hosts) once every host answered the steps before them that say
// whether this run goes on: the lock (ordered), the new release's name
// (cuts) and what the lock's listing says of it (clears). The go-ahead
// comes when every host passed them in its first script: this run took
// the lock everywhere, so on the first host, which decides between runs
// started together, and nothing before the awaiting steps will be undone
// or redone. Otherwise every script stops before its first awaiting step,
// and no team command ran: the run fails or is refused at the step that
// said so, or, when it goes on (a contender's lock waited out on a host,
// awaitFirstLock), the awaiting steps start the next script (heldBack).
//
// It waits for no host's whole script, only for the answers that come
// before each host's own wait, so the go-ahead is usually there before a
// script reaches its wait: no round trip of its own.
func (seg *segment) decide() {
	upto := -1
	for k, s := range seg.steps[:seg.awaitAt] {
		if s.ordered || s.cuts || s.clears != nil {
			upto = k
		}
	}
	seg.mu.Lock()
	for !seg.answered(upto) {
		seg.cond.Wait()
	}
	seg.goAhead = seg.passed(upto)
	seg.mu.Unlock()
	close(seg.decided)
}

// answered reports whether every host answered steps [0, upto] in its
// first script, or its script stopped before.
func (seg *segment) answered(upto int) bool {
	for _, h := range seg.hosts {
		hr := seg.runs[h]
		if hr.tried || hr.retaken || hr.gated {
			continue
		}
		if !hr.built {
			return false
		}
		for j := 0; j <= upto; j++ {
			res := hr.res[j]
			if !res.included {
				continue
			}
			if !res.outDone || !res.errDone {
				return false
			}
			if res.status != 0 {
				break // the script stopped there
			}
		}
	}
	return true
}

// passed reports whether every host passed steps [0, upto] in its first
// script: each ran, succeeded, passed its gate and cleared.
func (seg *segment) passed(upto int) bool {
	for _, h := range seg.hosts {
		hr := seg.runs[h]
		if hr.retaken {
			return false
		}
		for j := 0; j <= upto; j++ {
			s, res := seg.steps[j], hr.res[j]
			if !res.included {
				continue
			}
			out := string(res.out)
			switch {
			case !res.ran, !res.outDone, !res.errDone, res.status != 0, res.err != nil:
				return false
			case !s.gate.IsZero() && !s.gate.Passes(out), s.clears != nil && !s.clears(h, out):
				return false
			}
		}
	}
	return true
}

// feed writes the run's go-ahead, or its refusal, to a script that awaits
// it, once decided; the write fails when the script ended first.
func (seg *segment) feed(w *io.PipeWriter) {
	<-seg.decided
	line := script.StopLine(seg.token)
	if seg.goAhead {
		line = script.GoLine(seg.token)
	}
	_, _ = io.WriteString(w, line+"\n")
	_ = w.Close()
}

// heldBack reports whether t's step awaited the run's go-ahead, which did
// not come: no host ran it (decide).
func (seg *segment) heldBack(t *Task) bool {
	k := slices.IndexFunc(seg.steps, func(s *step) bool { return s.task == t })
	if seg.decided == nil || k < seg.awaitAt {
		return false
	}
	<-seg.decided
	return !seg.goAhead
}

// cutBefore waits for every host's script to end, then ends the segment
// before t's step, which no host ran (heldBack): t and the tasks after it
// are planned again as the flow reaches them, in the next script.
func (seg *segment) cutBefore(t *Task) {
	k := seg.cut(t, 0)
	seg.mu.Lock()
	seg.next = k
	seg.mu.Unlock()
	p := &seg.r.plan
	p.mu.Lock()
	if p.seg == seg {
		p.seg = nil
	}
	p.mu.Unlock()
}

// connected waits for every host's connection (dialed as the run
// started) and reports whether all are up.
func (seg *segment) connected(ctx context.Context) bool {
	errs := make([]error, len(seg.hosts))
	inParallel(seg.hosts, func(i int, h *Host) { _, errs[i] = seg.r.dialer.conn(ctx, h) })
	return !slices.ContainsFunc(errs, func(err error) bool { return err != nil })
}

// runHost runs steps [from, upto) on h as one script.
func (seg *segment) runHost(ctx context.Context, h *Host, from, upto int) {
	r := seg.r
	hr := seg.runs[h]
	var cmds []script.Step
	var idx []int
	awaiting := false
	seg.mu.Lock()
	for k := from; k < upto; k++ {
		s := seg.steps[k]
		if s.cmd == nil {
			continue
		}
		c, ok := s.cmd(h)
		if !ok {
			continue
		}
		c = h.wrap(c)
		res := &hr.res[k]
		res.included, res.cmd = true, c.String()
		if c.HasDisplay() {
			res.shown = c.Display()
		}
		st := script.Step{Cmd: c, Gate: s.gate, Keep: s.keep, Text: res.cmd}
		if seg.decided != nil && k >= seg.awaitAt && !awaiting {
			st.Await, awaiting = true, true // the run's go-ahead first
		}
		cmds = append(cmds, st)
		idx = append(idx, k)
	}
	hr.built = true
	seg.mu.Unlock()
	if len(cmds) == 0 {
		return
	}
	fail := func(err error) {
		seg.mu.Lock()
		defer seg.mu.Unlock()
		res := &hr.res[idx[0]]
		res.ran, res.noExec = true, true
		res.err = &CommandError{Host: h.String(), Command: redact(res.cmd), Status: -1, Err: err}
	}
	if err := ctx.Err(); err != nil {
		fail(err)
		return
	}
	conn, err := r.dialer.conn(ctx, h)
	if err != nil {
		fail(&ConnectError{Host: h.String(), Err: err})
		return
	}
	for _, k := range idx {
		if s := seg.steps[k]; s.sending != nil {
			s.sending(h)
		}
	}
	sent := seg.script(cmds)
	// A script that awaits the run's go-ahead reads it on its standard
	// input, a comment line that the command shell may carry (decide).
	var stdin io.Reader
	commentLines := false
	if awaiting {
		pr, pw := io.Pipe()
		defer pr.Close() // the script ended: the go-ahead is not written
		go seg.feed(pw)
		stdin, commentLines = pr, true
	}
	// Config.SecretEnv reaches every step as it reaches a single command:
	// the script reads the values from its standard input first
	// (secret.go); its steps and their markers are unchanged.
	if vars := mergeSecretVars(r.Config.SecretEnv, nil); len(vars) > 0 {
		var err error
		if sent, _, stdin, err = withSecretStdin(vars, sent, stdin); err != nil {
			fail(err)
			return
		}
		commentLines = false
	}
	var names []string
	for _, k := range idx {
		names = append(names, seg.stepName(k))
	}
	// The log has each text in full once: at a thousand hosts the same
	// script would be formatted, redacted and written a thousand times.
	// Both lines are written under seg.mu, so that the full text always
	// comes before the lines that refer to it. The text is compared as
	// sent, before the log's redaction, which leaves the same text the
	// same; secret environment values are on standard input, not in it.
	text := sent.String()
	seg.mu.Lock()
	if first, ok := seg.logged[text]; ok {
		r.console.Log("DEBUG", fmt.Sprintf("Sending to %s as one remote command, %d steps (%s), each reported below with its task: the same script as sent to %s",
			h, len(cmds), strings.Join(names, ", "), first))
	} else {
		if seg.logged == nil {
			seg.logged = map[string]string{}
		}
		seg.logged[text] = h.String()
		r.console.Log("DEBUG", fmt.Sprintf("Sending to %s as one remote command, %d steps (%s), each reported below with its task:\n%s",
			h, len(cmds), strings.Join(names, ", "), text))
	}
	hr.announced = true
	seg.cond.Broadcast()
	seg.mu.Unlock()
	// Config.CommandTimeout is per command, steps of a script included:
	// each step gets its own deadline, which restarts as the previous
	// step's end marker arrives (mark), and the script is stopped when one
	// step overruns it.
	rctx, stopScript := context.WithCancel(ctx)
	defer stopScript()
	var stepTimer *time.Timer
	var timedOut atomic.Bool
	if t := r.Config.CommandTimeout; t > 0 {
		stepTimer = time.AfterFunc(t, func() {
			timedOut.Store(true)
			stopScript()
		})
		defer stepTimer.Stop()
	}
	start := r.now()
	last := start
	mark := func(n, status int, part []byte, stderr bool) {
		seg.mu.Lock()
		defer seg.mu.Unlock()
		if n == 0 && !stderr {
			hr.gated = true
			return
		}
		if n < 1 || n > len(idx) {
			return
		}
		res := &hr.res[idx[n-1]]
		res.ran, res.status = true, status
		if stderr {
			res.errOut, res.errDone = part, true
		} else {
			res.out, res.outDone = part, true
			now := r.now()
			res.took, last = now.Sub(last), now
			if stepTimer != nil && !timedOut.Load() {
				stepTimer.Reset(r.Config.CommandTimeout) // the next step starts
			}
		}
		if res.outDone && res.errDone && status != 0 {
			res.err = commandEnd(h, res.cmd, res.errOut, &backend.ExitError{Status: status}, false)
		}
		seg.cond.Broadcast()
	}
	prefix := []byte(script.MarkerPrefix(seg.token))
	stdout := &script.Splitter{Prefix: prefix, Max: MaxCapture, Mark: func(n, s int, p []byte) { mark(n, s, p, false) }}
	stderr := &script.Splitter{Prefix: prefix, Max: MaxCapture, Mark: func(n, s int, p []byte) { mark(n, s, p, true) }}
	err = conn.Run(rctx, sent, backend.Stdio{Stdin: stdin, Stdout: stdout, Stderr: stderr, CommentLines: commentLines})

	seg.mu.Lock()
	defer seg.mu.Unlock()
	stopped := false // an earlier step failed: the rest never started
	for _, k := range idx {
		res := &hr.res[k]
		switch {
		case stopped || (hr.gated && !res.ran):
			// An earlier step failed, or its gate stopped the script:
			// this one never started.
			stopped = true
			if s := seg.steps[k]; s.unsent != nil {
				s.unsent(h)
			}
			continue
		case res.outDone:
			if res.status != 0 {
				if res.err == nil {
					res.err = commandEnd(h, res.cmd, res.errOut, &backend.ExitError{Status: res.status}, false)
				}
				stopped = true
			}
			continue
		}
		// The script ended during this step: how, the backend says.
		res.ran = true
		res.out = append(res.out, stdout.Buf...)
		if !res.errDone {
			res.errOut = append(res.errOut, stderr.Buf...)
		}
		res.took = r.now().Sub(last)
		cause := err
		if cause == nil {
			cause = errors.New("the script ended before this step reported its end")
		}
		ce := commandEnd(h, res.cmd, res.errOut, cause, err != nil && ctx.Err() == nil && timedOut.Load())
		res.status, res.err = ce.Status, ce
		// The steps after it may have run or not: what was recorded as
		// they were sent stays.
		break
	}
}

// orderedStep is the index of the step that takes the lock, or
// len(seg.steps) when none does.
func (seg *segment) orderedStep() int {
	if k := slices.IndexFunc(seg.steps, func(s *step) bool { return s.ordered }); k >= 0 {
		return k
	}
	return len(seg.steps)
}

func (seg *segment) stepName(k int) string {
	if t := seg.steps[k].task; t != nil {
		return t.name
	}
	return "the lock's release"
}

// script returns the script of steps cmds: one built for an earlier host
// when it has the same text, so that at a thousand hosts one copy of the
// text is built and kept while the scripts run, not a thousand.
func (seg *segment) script(cmds []script.Step) shell.Command {
	seg.scriptMu.Lock()
	defer seg.scriptMu.Unlock()
	for _, c := range seg.scripts {
		if script.Matches(c, "", "", seg.token, cmds...) {
			return c
		}
	}
	c := script.Steps(seg.token, cmds...)
	if len(seg.scripts) < maxScripts {
		seg.scripts = append(seg.scripts, c)
	}
	return c
}

// announced reports whether every host's script was logged as sent, or
// ended (or never had a step).
func (seg *segment) announced() bool {
	for _, h := range seg.hosts {
		if hr := seg.runs[h]; !hr.announced && !hr.ended {
			return false
		}
	}
	return true
}

// complete reports whether step k is over on every host: the host's
// script ended, or does not have the step, or said where it ended.
func (seg *segment) complete(k int) bool {
	for _, h := range seg.hosts {
		hr := seg.runs[h]
		res := hr.res[k]
		if hr.deciding && k >= seg.orderedStep() {
			return false
		}
		if !hr.ended && !(hr.built && !res.included) && !(res.outDone && res.errDone) {
			return false
		}
	}
	return true
}

// report reports t's step, once every host has run it, as t would have
// reported running on its own.
func (seg *segment) report(ctx context.Context, t *Task) error {
	k := slices.IndexFunc(seg.steps, func(s *step) bool { return s.task == t })
	err := seg.reportStep(ctx, k)
	// The lock's release that ends the run is reported with the last task.
	for err == nil && k+1 < len(seg.steps) && seg.steps[k+1].task == nil {
		k++
		err = seg.reportStep(ctx, k)
	}
	seg.mu.Lock()
	seg.next = k + 1
	over := seg.next == len(seg.steps)
	seg.mu.Unlock()
	if err != nil || over {
		r := seg.r
		r.plan.mu.Lock()
		if r.plan.seg == seg {
			r.plan.seg = nil
		}
		r.plan.mu.Unlock()
		seg.abandon()
	}
	return err
}

func (seg *segment) reportStep(ctx context.Context, k int) error {
	r, s := seg.r, seg.steps[k]
	seg.mu.Lock()
	for !seg.announced() {
		seg.cond.Wait()
	}
	if s.local != nil {
		seg.mu.Unlock()
		return seg.localErr[k]
	}
	for !seg.complete(k) {
		seg.cond.Wait()
	}
	results := make([]stepResult, len(seg.hosts))
	for i, h := range seg.hosts {
		results[i] = seg.runs[h].res[k]
	}
	seg.mu.Unlock()
	errs := make([]error, len(seg.hosts))
	for i, h := range seg.hosts {
		res := results[i]
		if !res.ran {
			continue
		}
		if !res.noExec {
			ex := r.console.Start(h.String(), res.cmd, console.ExecOptions{Kind: s.opts.kind(), Shown: res.shown})
			ex.Stdout().Write(res.out)
			ex.Stderr().Write(res.errOut)
			ex.EndAfter(res.took, errorOf(res.err), res.status)
		}
		if s.done == nil {
			continue
		}
		err := s.done(ctx, h, string(res.out), res.err)
		if err == nil && res.err == nil && !s.cuts && !s.gate.IsZero() && !s.gate.Passes(string(res.out)) {
			// The gate stopped the script: the steps after it did not run.
			err = fmt.Errorf("%s stopped the script on this host, yet reported no error", seg.stepName(k))
		}
		if err != nil {
			errs[i] = hostError(h, err)
			showHostError(ctx, r, h, err)
		}
	}
	err := joinHostErrors(errs...)
	if s.finish != nil {
		err = s.finish(ctx, err)
	}
	return err
}

// errorOf is the cause of a step's failure, as the console shows it.
func errorOf(err error) error {
	var ce *CommandError
	if errors.As(err, &ce) {
		return ce.Err
	}
	return err
}

// cutAfter waits for every host's script to end, then ends the segment
// with t's step: the tasks after it, which some hosts may have run, are
// planned again when the flow reaches them, and what their steps did is
// not recorded (the caller undoes it). Only t's finish calls it.
func (seg *segment) cutAfter(t *Task) { seg.cut(t, 1) }

// cut waits for every host's script to end, then ends the segment keep
// steps after the start of t's (0: before it, 1: with it), and returns
// where t's step was; the flow goes on from the new end.
func (seg *segment) cut(t *Task, keep int) int {
	<-seg.ended
	p := &seg.r.plan
	p.mu.Lock()
	defer p.mu.Unlock()
	seg.mu.Lock()
	defer seg.mu.Unlock()
	k := slices.IndexFunc(seg.steps, func(s *step) bool { return s.task == t })
	seg.steps, seg.localErr = seg.steps[:k+keep], seg.localErr[:k+keep]
	if p.seg == seg {
		p.cursor = seg.at + k + keep
	}
	return k
}

// abandon waits for every host's script to end and records what the
// steps not reported did.
func (seg *segment) abandon() {
	<-seg.ended
	seg.mu.Lock()
	defer seg.mu.Unlock()
	for k := seg.next; k < len(seg.steps); k++ {
		s := seg.steps[k]
		if s.settle == nil {
			continue
		}
		for _, h := range seg.hosts {
			if res := seg.runs[h].res[k]; res.ran {
				s.settle(h, string(res.out), res.err)
			}
		}
	}
	seg.next = len(seg.steps)
}

// everywhere runs c on every host of the step.
func everywhere(c shell.Command) func(*Host) (shell.Command, bool) {
	return func(*Host) (shell.Command, bool) { return c, true }
}

// failure is the done of a step whose command's failure is the task's.
func failure(_ context.Context, _ *Host, _ string, err error) error { return err }

// captured is the options of a command whose output is read, not shown.
var captured = runOpts{hidden: true, capture: true}
