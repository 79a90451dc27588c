//go:build unix

package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/lab"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// cmdlinesHolding returns the command lines of this machine's processes
// (the lab's hosts run on it) that hold any of values.
func cmdlinesHolding(values ...string) []string {
	var found []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				found = append(found, strings.ReplaceAll(string(b), "\x00", " "))
			}
		}
	}
	return found
}

// Config.SecretEnv and Stage.SecretEnv reach a single command (a hook's)
// and the steps of a script (git:update's fetch) on a lab host, while no
// process's command line, the console or the log ever holds a value.
func TestSecretEnvOnLabHost(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 1})
	l.RequireSharedDeployTo(t)
	h := l.Hosts[0]
	nonce := strconv.FormatInt(time.Now().UnixNano(), 36)
	configToken, stageToken := "cfg-secret-env-"+nonce, "stage-secret-env-"+nonce
	want := sha256.Sum256([]byte(configToken + " " + stageToken))
	d := isolate(t, Config{Application: "app", RepoURL: l.Repo, DeployTo: h.DeployTo,
		Env:       map[string]string{"APP_ENV": "lab"},
		SecretEnv: map[string]Secret{"CAPSTAN_CFG_TOKEN": NewSecret(configToken)}})
	st := labStage(l)
	st.SecretEnv = map[string]Secret{"CAPSTAN_STAGE_TOKEN": NewSecret(stageToken)}

	dir, hookFIFO := labShared(t, l, "secretenv")
	sum := `printf '%s %s' "$CAPSTAN_CFG_TOKEN" "$CAPSTAN_STAGE_TOKEN" | sha256sum > `
	AfterIn(d, Updated, d.NewTask("lab:token", "", func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			return h.Execute(ctx, "sh", "-c", sum+shell.Quote(filepath.Join(dir, "hook.sum"))+"; cat "+shell.Quote(hookFIFO)+" >/dev/null")
		})
	}))

	type result struct {
		out string
		err error
	}
	logFile := filepath.Join(t.TempDir(), "deploy.log")
	deploy := func(at time.Time) <-chan result {
		done := make(chan result, 1)
		go func() {
			var out bytes.Buffer
			err := d.Start(context.Background(), Deploy, WithStage(st), WithOutput(&out), WithColor(false), WithLogFile(logFile), WithVerbose(),
				WithClock(func() time.Time { return at }))
			done <- result{out.String(), err}
		}()
		return done
	}
	// whileBlocked waits until a command of the run has opened fifo for
	// reading (it blocks there), checks every process's command line, and
	// lets the command go on.
	whileBlocked := func(fifo string, done <-chan result) {
		t.Helper()
		opened := make(chan *os.File, 1)
		go func() {
			w, _ := os.OpenFile(fifo, os.O_WRONLY, 0)
			opened <- w
		}()
		select {
		case w := <-opened:
			if leaks := cmdlinesHolding(configToken, stageToken); len(leaks) > 0 {
				t.Errorf("command lines hold a secret: %q", leaks)
			}
			w.Close()
		case res := <-done:
			t.Fatalf("the deploy ended before reaching %s: %v\n%s", fifo, res.err, res.out)
		}
	}
	checkSum := func(name string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if got := strings.Fields(string(b)); err != nil || len(got) == 0 || got[0] != hex.EncodeToString(want[:]) {
			t.Errorf("%s: %q, %v: the command did not get both secrets", name, b, err)
		}
	}
	var outs []string

	// The first deploy: the hook, a single command.
	done := deploy(time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC))
	whileBlocked(hookFIFO, done)
	res := <-done
	if res.err != nil {
		t.Fatalf("first deploy: %v\n%s", res.err, res.out)
	}
	outs = append(outs, res.out)
	checkSum("hook.sum")

	// The second deploy fetches, in a script of several steps: the
	// mirror's upload-pack writes the sum and blocks on its FIFO.
	labCommit(t, l)
	_, fetchFIFO := labShared(t, l, "secretenv-fetch")
	setUploadPack(t, h, h.DeployTo, sum+shell.Quote(filepath.Join(dir, "fetch.sum"))+"; cat "+shell.Quote(fetchFIFO)+" >/dev/null")
	done = deploy(time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC))
	whileBlocked(fetchFIFO, done)
	whileBlocked(hookFIFO, done)
	res = <-done
	if res.err != nil {
		t.Fatalf("second deploy: %v\n%s", res.err, res.out)
	}
	outs = append(outs, res.out)
	checkSum("fetch.sum")

	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "Sending to") {
		t.Errorf("no script of steps was sent: the fetch ran on its own\n%s", log)
	}
	for where, text := range map[string]string{"console 1": outs[0], "console 2": outs[1], "log": string(log)} {
		if strings.Contains(text, configToken) || strings.Contains(text, stageToken) {
			t.Errorf("the %s shows a secret:\n%s", where, text)
		}
		if !strings.Contains(text, "CAPSTAN_CFG_TOKEN") {
			t.Errorf("the %s does not show the secret variable's name:\n%s", where, text)
		}
	}
}
