//go:build unix

package engine

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/lab"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Config.CommandTimeout is per command inside a fused script too: a step
// that hangs (git:update's fetch, blocked on a FIFO) is stopped once it
// alone ran CommandTimeout, not CommandTimeout times the script's steps,
// and the error names the step's task and host and the timeout as
// configured.
func TestCommandTimeoutPerStepOfAScript(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 1})
	l.RequireSharedDeployTo(t)
	const timeout = 3 * time.Second
	d := isolate(t, Config{Application: "app", RepoURL: l.Repo, DeployTo: l.Hosts[0].DeployTo, CommandTimeout: timeout})
	h := l.Hosts[0]
	st := labStage(l)
	deploy := func(ctx context.Context, at time.Time) (string, error) {
		var out bytes.Buffer
		err := d.Start(ctx, Deploy, WithStage(st), WithOutput(&out), WithColor(false), WithLogFile(""), WithClock(func() time.Time { return at }))
		return out.String(), err
	}
	if out, err := deploy(context.Background(), time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)); err != nil {
		t.Fatalf("first deploy: %v\n%s", err, out)
	}

	// A new commit makes the next deploy fetch; the mirror's fetch runs
	// its upload-pack through a shell that first reads a FIFO, which
	// nothing ever writes to.
	labCommit(t, l)
	_, fifo := labShared(t, l, "hang")
	setUploadPack(t, h, l.Hosts[0].DeployTo, "cat "+shell.Quote(fifo)+" >/dev/null")

	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := deploy(context.Background(), time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC))
		done <- result{out, err}
	}()
	// Opening the FIFO for writing returns once the step has opened it
	// for reading: the step hangs from here on.
	opened := make(chan *os.File, 1)
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
		}
		opened <- w
	}()
	var hung time.Time
	var res result
	select {
	case w := <-opened:
		hung = time.Now()
		defer w.Close()
		res = <-done
	case res = <-done:
		t.Fatalf("the deploy ended before the fetch hung: %v\n%s", res.err, res.out)
	}
	took := time.Since(hung)
	var te *TimeoutError
	if !errors.As(res.err, &te) || te.After != timeout {
		t.Fatalf("error = %v, want a TimeoutError after %v\n%s", res.err, timeout, res.out)
	}
	for _, want := range []string{"git:update", h.Addr, "timed out after 3s"} {
		if !strings.Contains(res.err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, res.err)
		}
	}
	// The script had more steps: with the old timeout (3s per step, for
	// the whole script) the fetch hung for several times 3s.
	if took > timeout+6*time.Second {
		t.Errorf("the hung step was stopped %v after it hung, want about %v\n%s", took, timeout, res.out)
	}
	t.Logf("stopped %v after the step hung", took)
}
