//go:build mage && unix

package main

// Two deploys started together from one checkout, as a user types them
// with the compiled binary (go tool mage -compile): exactly one proceeds
// and the other says who holds the lock. (Through go tool mage itself the
// second may instead fail inside mage's compile step, magefile/mage#247:
// both write magefiles/mage_output_file.go; see the README on concurrent
// deploys.)

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// shimTar stands in for tar on PATH: the first tar any run starts (the
// one unpacking the release, under the deploy lock) reports on the FIFO
// $CAPSTAN_SHIM_DIR/event and waits for a line on $CAPSTAN_SHIM_DIR/go.
const shimTar = `#!/bin/sh
if /bin/mkdir "$CAPSTAN_SHIM_DIR/fired" 2>/dev/null; then
  echo "pid $PPID unpacking" > "$CAPSTAN_SHIM_DIR/event"
  read _ < "$CAPSTAN_SHIM_DIR/go"
fi
PATH=$CAPSTAN_SHIM_PATH exec tar "$@"
`

func TestCompiledDeploysStartedTogether(t *testing.T) {
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skip("compiles the team binary (go tool mage -compile); not under -short")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("the local stage needs git:", err)
	}
	tmp := t.TempDir()
	run := func(dir string, env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// A clone, so that the deploy (into .deploy/local) and mage's
	// generated file stay out of this checkout.
	top := strings.TrimSpace(run(".", nil, "git", "rev-parse", "--show-toplevel"))
	repo := filepath.Join(tmp, "repo")
	run(tmp, nil, "git", "clone", "--quiet", "--no-hardlinks", top, repo)
	bin := filepath.Join(tmp, "capstan")
	run(repo, nil, "go", "tool", "mage", "-compile", bin)

	shims := filepath.Join(tmp, "shims")
	os.Mkdir(shims, 0o755)
	if err := os.WriteFile(filepath.Join(shims, "tar"), []byte(shimTar), 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := func(name string) string {
		p := filepath.Join(shims, name)
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	start, event, goOn := fifo("start"), fifo("event"), fifo("go")
	// Opened read-write, so that no open blocks.
	startW, _ := os.OpenFile(start, os.O_RDWR, 0)
	eventR, _ := os.OpenFile(event, os.O_RDWR, 0)
	goW, _ := os.OpenFile(goOn, os.O_RDWR, 0)
	defer startW.Close()
	defer eventR.Close()
	defer goW.Close()

	type ended struct {
		pid    int
		status int
		out    string
	}
	done := make(chan ended, 2)
	for range 2 {
		// Each waits for its byte on the start FIFO, then execs the
		// binary: both start at the same moment.
		cmd := exec.Command("sh", "-c", `dd bs=1 count=1 status=none <"$0" >/dev/null && exec "$@"`, start, bin, "local", "deploy")
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "PATH="+shims+":"+os.Getenv("PATH"), "CAPSTAN_SHIM_DIR="+shims,
			"CAPSTAN_SHIM_PATH="+os.Getenv("PATH"), "NO_COLOR=1", "HOSTS=", "ROLES=", "DRY_RUN=")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			err := cmd.Wait()
			status := 0
			if err != nil {
				status = cmd.ProcessState.ExitCode()
			}
			done <- ended{cmd.Process.Pid, status, out.String()}
		}()
		t.Cleanup(func() { cmd.Process.Kill() })
	}
	startW.Write([]byte("xx"))

	// The winner holds the lock, paused in tar; the other one must end
	// first, refused, naming the holder.
	events := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(eventR).ReadString('\n')
		events <- line
	}()
	var refused ended
	select {
	case <-events:
		refused = <-done
	case refused = <-done:
		<-events
	}
	holder := regexp.MustCompile(`deploy lock is held by \S+ \(pid (\d+), run \w+\)`).FindStringSubmatch(refused.out)
	if refused.status != 1 || holder == nil {
		t.Errorf("the run that did not get the lock exited %d, want 1 saying who holds the lock:\n%s", refused.status, refused.out)
	}
	fmt.Fprintln(goW)
	winner := <-done
	if holder != nil && holder[1] != fmt.Sprint(winner.pid) {
		t.Errorf("the refusal names pid %s as the holder, but the run that proceeded is pid %d:\n%s", holder[1], winner.pid, refused.out)
	}
	if winner.status != 0 || !strings.Contains(winner.out, "deploy finished: release") {
		t.Errorf("the run holding the lock exited %d, want 0:\n%s", winner.status, winner.out)
	}
	if strings.Contains(refused.out+winner.out, "mage_output_file.go") {
		t.Errorf("a compiled binary met mage's compile step:\n%s\n%s", refused.out, winner.out)
	}
}
