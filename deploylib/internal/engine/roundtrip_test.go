package engine

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// deployCommandsPerHost is the number of remote commands the standard
// deploy (git strategy, linked files and dirs, a first deploy with nothing
// to clean up) runs on each host. Every remote command costs at least one
// network round trip (opening a session channel, then exec and exit
// status), so at 50 ms of round-trip time each one adds 50 to 100 ms to a
// deploy: this number is the performance budget of DESIGN.md section 6.
//
// The planner (plan.go) runs consecutive standard tasks with no hook
// between them as one script per host: [git:check, deploy:check:directories,
// deploy:lock, deploy:set_previous_revision ... deploy:symlink:linked_dirs],
// [deploy:symlink:release], [deploy:cleanup, deploy:log_revision, the
// lock's release]. It was 4 while the release was built in a script of its
// own, once every host had answered the lock.
//
// Change it deliberately: lower it when you merge commands, and raise it
// only with a reason written in the commit message. The benchmark
// (go tool mage bench) measures what the count costs on real hosts.
const deployCommandsPerHost = 3

// repeatDeployCommandsPerHost is the same for a host deployed before: its
// git mirror exists, so git:clone has no step in the script.
const repeatDeployCommandsPerHost = 3

// lockListed answers the command taking the lock as the real one does:
// taken, current nowhere, no releases and no unfinished ones yet, so
// deploy:cleanup needs no listing of its own.
var lockListed = backend.Rule{Match: "ln -sn lock.d-", Reply: backend.Reply{Stdout: remote.LockTaken + "\n\n" + remote.LockUnfinished + "\n"}}

// TestDeployRoundTripBudget counts the remote commands of the standard
// deploy on each of three hosts, so that the count cannot grow unnoticed.
func TestDeployRoundTripBudget(t *testing.T) {
	checkRoundTripBudget(t, deployCommandsPerHost, "deployCommandsPerHost", append([]backend.Rule{lockListed}, gitRules...))
}

// TestRepeatDeployRoundTripBudget does the same for hosts that hold a
// mirror already, the common case.
func TestRepeatDeployRoundTripBudget(t *testing.T) {
	mirror := backend.Rule{Match: "echo mirror-exists", Reply: backend.Reply{Stdout: "mirror-exists\n"}}
	checkRoundTripBudget(t, repeatDeployCommandsPerHost, "repeatDeployCommandsPerHost", append([]backend.Rule{lockListed, mirror}, gitRules...))
}

func checkRoundTripBudget(t *testing.T, budget int, name string, rules []backend.Rule) {
	t.Helper()
	checkRoundTripBudgetOf(t, Deploy, budget, name, rules)
}

func checkRoundTripBudgetOf(t *testing.T, flow *Task, budget int, name string, rules []backend.Rule) {
	t.Helper()
	checkRoundTripBudgetWith(t, testConfig(), flow, budget, name, rules)
}

func checkRoundTripBudgetWith(t *testing.T, cfg Config, flow *Task, budget int, name string, rules []backend.Rule) {
	t.Helper()
	d := isolate(t, cfg)
	rec, out, err := recorderRun(t, d, testStage("web1", "web2", "web3"), flow, rules...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", flow.name, err, out)
	}
	perHost := map[string][]string{}
	for _, c := range rec.Log() {
		perHost[c.Host] = append(perHost[c.Host], c.Command)
	}
	if len(perHost) != 3 {
		t.Fatalf("commands ran on %d hosts, want 3", len(perHost))
	}
	// A command may run on one host only (resolving the branch, say): the
	// budget is the largest count.
	most, mostHost := 0, ""
	for _, h := range []string{"web1", "web2", "web3"} {
		if n := len(perHost[h]); n > most {
			most, mostHost = n, h
		}
	}
	if most != budget {
		var b strings.Builder
		for i, c := range perHost[mostHost] {
			fmt.Fprintf(&b, "  %2d  %s\n", i+1, c)
		}
		verb := "grew"
		if most < budget {
			verb = "shrank"
		}
		t.Errorf("the standard %s runs %d remote commands on %s, and %s is %d: the round-trip budget %s.\n"+
			"Each command costs at least one network round trip per host. If the change is intended, set %s "+
			"in deploylib/roundtrip_test.go to %d deliberately (say why in the commit when it grows).\nThe commands:\n%s",
			flow.name, most, mostHost, name, budget, verb, name, most, b.String())
	}
}

// rollbackCommandsPerHost is the same for the standard rollback (two
// finished releases, current at the newer): [git:check,
// deploy:check:directories, deploy:lock, deploy:revert_release's listing],
// [deploy:symlink:release], [deploy:cleanup_rollback's archive,
// deploy:log_revision, the lock's release]. It was 5 while the rollback's
// own tasks ran alone (the listing and the archive on their own).
const rollbackCommandsPerHost = 3

// TestRollbackRoundTripBudget counts the remote commands of the standard
// rollback on each of three hosts.
func TestRollbackRoundTripBudget(t *testing.T) {
	listing := backend.Rule{Match: "ls -1 /srv/shop/releases", Reply: backend.Reply{Stdout: "20261125214038\n20261125214042\n--capstan--\n--capstan--\n/srv/shop/releases/20261125214042\n--capstan--\n/srv/shop/releases/20261125214038/REVISION\n/srv/shop/releases/20261125214042/REVISION\n"}}
	lock := backend.Rule{Match: "ln -sn lock.d-", Reply: backend.Reply{Stdout: remote.LockTaken + "\n/srv/shop/releases/20261125214042\n20261125214038\n20261125214042\n" + remote.LockUnfinished + "\n"}}
	checkRoundTripBudgetOf(t, Rollback, rollbackCommandsPerHost, "rollbackCommandsPerHost", append([]backend.Rule{lock, listing}, gitRules...))
}

// TestHealthCheckCostsNoRound: with a health check (retries included),
// the standard deploy and rollback send as many commands per host as
// without one: the check runs in the switch's script, right after each
// host's switch. A check on its own cost one more command per host.
func TestHealthCheckCostsNoRound(t *testing.T) {
	cfg := testConfig()
	cfg.HealthCheck = &HealthCheck{URL: "http://127.0.0.1:8080/healthz", Retries: 2}
	checkRoundTripBudgetWith(t, cfg, Deploy, deployCommandsPerHost, "deployCommandsPerHost", append([]backend.Rule{lockListed}, gitRules...))
	listing := backend.Rule{Match: "ls -1 /srv/shop/releases", Reply: backend.Reply{Stdout: "20261125214038\n20261125214042\n--capstan--\n--capstan--\n/srv/shop/releases/20261125214042\n--capstan--\n/srv/shop/releases/20261125214038/REVISION\n/srv/shop/releases/20261125214042/REVISION\n"}}
	lock := backend.Rule{Match: "ln -sn lock.d-", Reply: backend.Reply{Stdout: remote.LockTaken + "\n/srv/shop/releases/20261125214042\n20261125214038\n20261125214042\n" + remote.LockUnfinished + "\n"}}
	checkRoundTripBudgetWith(t, cfg, Rollback, rollbackCommandsPerHost, "rollbackCommandsPerHost", append([]backend.Rule{lock, listing}, gitRules...))
}

// barrierConn is a host's recorder that holds every command holding match
// until all the hosts sharing arrived have sent one: it proves that the
// command is sent to every host in the same round.
type barrierConn struct {
	*backend.Recorder
	match   string
	arrived *sync.WaitGroup
	all     chan struct{}
}

func (c *barrierConn) Run(ctx context.Context, cmd shell.Command, stdio backend.Stdio) error {
	if strings.Contains(cmd.String(), c.match) {
		c.arrived.Done()
		select {
		case <-c.all:
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Second):
			return fmt.Errorf("%s: the other hosts were not sent %q while this host's was under way", c.Host, c.match)
		}
	}
	return c.Recorder.Run(ctx, cmd, stdio)
}

// TestDeployRounds pins the number of sequential rounds of a hook-free
// deploy on three hosts: deployCommandsPerHost commands per host, each
// round sent to every host at once, the lock's included (its first host
// decides between runs, but is not locked alone first): a host's script
// taking the lock is held until every host was sent its own, and it builds
// the release too, without waiting for the other hosts' answers.
func TestDeployRounds(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	rec := backend.NewRecorder("")
	var arrived sync.WaitGroup
	arrived.Add(3)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	var out bytes.Buffer
	err := d.Start(context.Background(), Deploy, WithStage(testStage("web1", "web2", "web3")), WithOutput(&out), WithColor(false),
		WithClock(fixedClock(0)), WithLogFile(""),
		WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) {
			r := rec.ForHost(s.Host)
			r.Rules = append([]backend.Rule{lockListed}, gitRules...)
			return &barrierConn{Recorder: r, match: "ln -sn lock.d-", arrived: &arrived, all: all}, nil
		}))
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	perHost := map[string]int{}
	for _, c := range rec.Log() {
		perHost[c.Host]++
		if strings.Contains(c.Command, "ln -sn lock.d-") && !strings.Contains(c.Command, "git archive") {
			t.Errorf("%s: the script taking the lock does not build the release:\n%s", c.Host, c.Command)
		}
	}
	for _, h := range []string{"web1", "web2", "web3"} {
		if perHost[h] != deployCommandsPerHost {
			t.Errorf("%s: %d commands, want %d, each one round", h, perHost[h], deployCommandsPerHost)
		}
	}
}

// fetchTurnsCommandsPerHost is deployCommandsPerHost when the hosts are
// more than Git.MaxConcurrent may fetch at once: the release is built in a
// script of its own, after the lock's, where the revision git:check pinned
// lets a host whose mirror has it fetch nothing and skip its turn.
const fetchTurnsCommandsPerHost = 4

// TestFetchTurnsRoundTripBudget counts the commands of the standard deploy
// on three hosts of which two may fetch at once.
func TestFetchTurnsRoundTripBudget(t *testing.T) {
	cfg := testConfig()
	cfg.Strategy = Git{MaxConcurrent: 2}
	checkRoundTripBudgetWith(t, cfg, Deploy, fetchTurnsCommandsPerHost, "fetchTurnsCommandsPerHost", append([]backend.Rule{lockListed}, gitRules...))
}
