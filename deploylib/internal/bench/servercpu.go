package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The hosts' side of a deploy: each lab host is one sshd listener, and
// every connection to it is a process tree that runs the shells and the
// programs of the deploy. The listeners' cutime does not add them up (sshd's
// processes do not collect their children's times all the way up), so the
// benchmark moves the listeners into a cgroup (v2) of their own, which every
// process they start inherits: its cpu.stat counts the CPU time of all of
// them, whether they were waited for or not. The difference before and after
// a deploy is what it cost the servers, which on this machine share the
// cores with the client.

// serverGroup is a cgroup holding a lab's sshd listeners.
type serverGroup struct {
	dir       string
	listeners int
}

// newServerGroup creates a cgroup v2 group under the first cgroup2 mount and
// moves the processes pids into it. It fails, with the reason, where there
// is no writable cgroup2 hierarchy (not Linux, not root, cgroup v1 only).
func newServerGroup(pids []int) (*serverGroup, error) {
	root, err := cgroup2Mount()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, fmt.Sprintf("capstan-bench-%d-%d", os.Getpid(), time.Now().UnixNano()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating a cgroup for the hosts: %w", err)
	}
	g := &serverGroup{dir: dir, listeners: len(pids)}
	for _, pid := range pids {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			g.close()
			return nil, fmt.Errorf("moving sshd %d into the cgroup %s: %w", pid, dir, err)
		}
	}
	return g, nil
}

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted.
func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("no cgroup v2 hierarchy: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "36 25 0:30 / /sys/fs/cgroup rw,... - cgroup2 cgroup2 rw"
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if fs := strings.Fields(post); ok && len(fs) > 0 && fs[0] == "cgroup2" {
			if f := strings.Fields(pre); len(f) > 4 {
				return f[4], nil
			}
		}
	}
	return "", errors.New("no cgroup v2 hierarchy is mounted")
}

// cpu waits until the group holds its listeners alone (the connections of
// the deploy before are over), at most until ctx ends, and returns the CPU
// time of every process that ran in it so far.
func (g *serverGroup) cpu(ctx context.Context) (time.Duration, error) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		b, err := os.ReadFile(filepath.Join(g.dir, "cgroup.procs"))
		if err != nil {
			return 0, err
		}
		if bytes.Count(b, []byte("\n")) <= g.listeners {
			break
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("the hosts' sshd still serve connections after the deploy ended: %w", context.Cause(ctx))
		case <-tick.C:
		}
	}
	b, err := os.ReadFile(filepath.Join(g.dir, "cpu.stat"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			us, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s/cpu.stat: %w", g.dir, err)
			}
			return time.Duration(us) * time.Microsecond, nil
		}
	}
	return 0, fmt.Errorf("%s/cpu.stat has no usage_usec", g.dir)
}

// close removes the group once its processes ended (the lab closed); a
// group still in use is left, empty groups are harmless.
func (g *serverGroup) close() { _ = os.Remove(g.dir) }
