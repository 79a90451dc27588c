//go:build unix

package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// pidsOf returns the local processes whose command line is cmdline (the
// lab's hosts run on this machine).
func pidsOf(cmdline string) []int {
	var found []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		if strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " ")) == cmdline {
			n, _ := strconv.Atoi(e.Name())
			found = append(found, n)
		}
	}
	return found
}

// sshdAbove returns the nearest sshd process above pid.
func sshdAbove(pid int) int {
	for pid > 1 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0
		}
		s := string(b)
		comm := s[strings.IndexByte(s, '(')+1 : strings.LastIndexByte(s, ')')]
		if strings.HasPrefix(comm, "sshd") {
			return pid
		}
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		pid, _ = strconv.Atoi(f[1])
	}
	return 0
}

// A server that drops the connection in the middle of a command fails the
// run with an error naming that host, and the run's cleanup (the lock, the
// half-built release) still happens on the other host.
func TestSSHConnectionDroppedMidCommand(t *testing.T) {
	l := lab.Start(t, lab.Options{Hosts: 2})
	l.RequireSharedDeployTo(t)
	d := isolate(t, Config{Application: "app", RepoURL: l.Repo, DeployTo: l.Hosts[0].DeployTo})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	marker := fmt.Sprintf("60.%d", h2.Port)
	AfterIn(d, Updated, d.NewTask("team:hang", "", func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			if h.Address.Port == h2.Port {
				return h.Execute(ctx, "sleep", marker)
			}
			return h.Execute(ctx, "true")
		})
	}))
	st := Stage{Name: "lab", SSH: SSHOptions{KnownHostsFile: l.KnownHosts, KnownHostsOnly: true, IdentityFiles: []string{l.ClientKey}, ConfigFile: "none"}}
	for _, h := range l.Hosts {
		st.Servers = append(st.Servers, Server{Host: l.User + "@" + h.Addr, Roles: []string{"app"}})
	}
	errc := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		errc <- d.Start(context.Background(), Deploy, WithStage(st), WithOutput(&out), WithColor(false), WithLogFile(""))
	}()
	var sleeps []int
	deadline := time.Now().Add(30 * time.Second)
	for sleeps = pidsOf("sleep " + marker); len(sleeps) == 0; sleeps = pidsOf("sleep " + marker) {
		select {
		case err := <-errc:
			t.Fatalf("the deploy ended before the hook ran: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the hook's sleep did not start")
		}
	}
	sshd := sshdAbove(sleeps[0])
	if sshd == 0 {
		t.Fatal("no sshd above the remote sleep")
	}
	syscall.Kill(sleeps[0], syscall.SIGKILL)
	if err := syscall.Kill(sshd, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-errc:
	case <-time.After(60 * time.Second):
		t.Fatalf("the deploy did not end after host2's connection was dropped\n%s", out.String())
	}
	if err == nil {
		t.Fatalf("the deploy succeeded\n%s", out.String())
	}
	if !strings.Contains(err.Error(), h2.Addr) {
		t.Errorf("the error does not name %s: %v", h2.Addr, err)
	}
	if strings.Contains(err.Error(), h1.Addr) {
		t.Errorf("the error blames %s: %v", h1.Addr, err)
	}
	if _, serr := os.Stat(filepath.Join(h1.Root, "app", ".capstan", "lock")); !os.IsNotExist(serr) {
		t.Errorf("host1 still holds the lock (%v)\n%s", serr, out.String())
	}
	if rels, _ := os.ReadDir(filepath.Join(h1.Root, "app", "releases")); len(rels) != 0 {
		t.Errorf("host1 keeps the half-built release: %v\n%s", rels, out.String())
	}
	t.Logf("error: %v", err)
}
