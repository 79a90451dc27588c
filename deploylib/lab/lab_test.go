package lab_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
	"github.com/capstan-deploy/capstan/deploylib/lab"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

func dial(t *testing.T, l *lab.Lab, h *lab.Host) *sshbackend.Conn {
	t.Helper()
	c, err := sshbackend.Dial(context.Background(), l.SSHConfig(h))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func capture(t *testing.T, c backend.Conn, cmd shell.Command) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := c.Run(context.Background(), cmd, backend.Stdio{Stdout: &out, Stderr: &errOut})
	if err != nil {
		t.Logf("%s: %v; stderr: %s", cmd, err, errOut.String())
	}
	return strings.TrimSpace(out.String()), err
}

func TestHostsSeeTheirOwnSrv(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{Hosts: 3})
	if len(l.Hosts) != 3 {
		t.Fatalf("got %d hosts, want 3", len(l.Hosts))
	}
	conns := make([]*sshbackend.Conn, 3)
	for i, h := range l.Hosts {
		conns[i] = dial(t, l, h)
		who, err := capture(t, conns[i], shell.New("id", "-un"))
		if err != nil || who != l.User {
			t.Fatalf("%s: logged in as %q (%v), want %q", h.Name, who, err, l.User)
		}
		// The login user can create deploy_to.
		if _, err := capture(t, conns[i], shell.New("mkdir", "-p", h.DeployTo)); err != nil {
			t.Fatalf("%s: mkdir %s: %v", h.Name, h.DeployTo, err)
		}
	}
	h1, h2 := l.Hosts[0], l.Hosts[1]
	file := h1.DeployTo + "/only-on-host1"
	if _, err := capture(t, conns[0], shell.New("touch", file)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(h1.Root, "app", "only-on-host1")); err != nil {
		t.Errorf("file written through host1 is not in host1's Root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(h2.Root, "app", "only-on-host1")); err == nil {
		t.Errorf("file written through host1 is in host2's Root")
	}
	err := conns[1].Run(context.Background(), shell.New("test", "-e", h2.DeployTo+"/only-on-host1"), backend.Stdio{})
	if ee, ok := err.(*backend.ExitError); !ok || ee.Status != 1 {
		t.Errorf("host2 sees host1's file: test -e gave %v", err)
	}
	if os.Geteuid() == 0 && h1.DeployTo != "/srv/app" {
		t.Logf("running as root without mount namespaces: DeployTo %s", h1.DeployTo)
	}
}

func TestRepoClonesOnHost(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	if len(l.Commits) != 2 {
		t.Fatalf("Commits = %v, want 2 SHAs", l.Commits)
	}
	h := l.Hosts[0]
	c := dial(t, l, h)
	mirror := h.DeployTo + "/repo"
	cmd := shell.New("git", "clone", "--quiet", "--mirror", l.Repo, mirror).
		And(shell.New("git", "-C", mirror, "rev-parse", "main"))
	head, err := capture(t, c, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if head != l.Commits[1] {
		t.Errorf("main on the host is %s, want %s", head, l.Commits[1])
	}
	files, err := capture(t, c, shell.New("git", "-C", mirror, "ls-tree", "-r", "--name-only", "main"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"README.md", "config/app.yml", "bin/hello", "lib/greeting.sh"} {
		if !strings.Contains(files, want) {
			t.Errorf("repo lacks %s; has %q", want, files)
		}
	}
	// Fixed authors and dates make the SHAs the same in every lab.
	l2 := lab.Start(t, lab.Options{})
	if strings.Join(l2.Commits, " ") != strings.Join(l.Commits, " ") {
		t.Errorf("SHAs differ between labs: %v and %v", l.Commits, l2.Commits)
	}
}

func TestStopLeavesNoProcess(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	h := l.Hosts[0]
	c := dial(t, l, h)
	marker := "sleep 31" + strconv.Itoa(os.Getpid()%1000)
	go c.Run(context.Background(), shell.Raw(marker), backend.Stdio{})
	waitFor(t, func() bool { return processCount(marker) == 1 })
	h.Stop()
	if processCount(marker) != 0 {
		t.Errorf("a command started through the host survived Stop")
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(h.Pid)); err == nil {
		t.Errorf("sshd %d survived Stop", h.Pid)
	}
	h.Stop() // a second Stop does nothing
}

func TestStopKillsDaemonizedCommands(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	h := l.Hosts[0]
	c := dial(t, l, h)
	marker := "sleep 32" + strconv.Itoa(os.Getpid()%1000)
	// setsid and the closed connection take it out of sshd's process tree.
	if _, err := capture(t, c, shell.Raw("setsid "+marker+" </dev/null >/dev/null 2>&1 &")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitFor(t, func() bool { return processCount(marker) == 1 })
	h.Stop()
	if processCount(marker) != 0 {
		t.Errorf("a daemonized command survived Stop")
	}
}

func TestPauseAndResume(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	h := l.Hosts[0]
	h.Pause()
	if banner(h.Addr, 300*time.Millisecond) {
		t.Errorf("paused host sent an SSH banner")
	}
	h.Resume()
	if !banner(h.Addr, 5*time.Second) {
		t.Errorf("resumed host sent no SSH banner")
	}
}

func TestTwentyHosts(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("short")
	}
	lab.Require(t)
	start := time.Now()
	l := lab.Start(t, lab.Options{Hosts: 20})
	took := time.Since(start)
	t.Logf("20 hosts started in %s", took)
	if took > 30*time.Second {
		t.Errorf("starting 20 hosts took %s", took)
	}
	seen := map[int]bool{}
	for _, h := range l.Hosts {
		if seen[h.Port] {
			t.Errorf("port %d used twice", h.Port)
		}
		seen[h.Port] = true
	}
	// Every host answers.
	last := l.Hosts[19]
	if out, err := capture(t, dial(t, l, last), shell.New("echo", "ok")); err != nil || out != "ok" {
		t.Errorf("host20: %q, %v", out, err)
	}
}

// banner reports whether addr sends an SSH banner within d.
func banner(addr string, d time.Duration) bool {
	c, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(d))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.HasPrefix(line, "SSH-2.0-")
}

// processCount counts the processes whose command line is cmdline.
func processCount(cmdline string) int {
	want := strings.ReplaceAll(cmdline, " ", "\x00") + "\x00"
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && string(b) == want {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
