//go:build unix

package lab

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// sigStop and sigCont stop and resume a process (Pause, Resume).
const sigStop, sigCont = syscall.SIGSTOP, syscall.SIGCONT

// parents returns the parent PID of every process, read from /proc.
func parents() map[int]int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	pp := make(map[int]int, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parens.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(string(f[1])); err == nil {
			pp[pid] = ppid
		}
	}
	return pp
}

// freezeTree stops root and all its descendants with SIGSTOP, so that none
// can fork or exit meanwhile, and returns them, root first. Processes that
// left the tree (daemons re-parented to init) are not found.
func freezeTree(root int) []int {
	tree := []int{root}
	in := map[int]bool{root: true}
	_ = syscall.Kill(root, syscall.SIGSTOP)
	// A process may finish a fork after being sent SIGSTOP: only two scans
	// in a row without a new process end the search.
	for quiet := 0; quiet < 2; {
		grown := false
		for pid, ppid := range parents() {
			if in[ppid] && !in[pid] {
				in[pid] = true
				tree = append(tree, pid)
				_ = syscall.Kill(pid, syscall.SIGSTOP)
				grown = true
			}
		}
		if grown {
			quiet = 0
		} else {
			quiet++
		}
	}
	return tree
}

// signalAll sends sig to every process in pids.
func signalAll(pids []int, sig syscall.Signal) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, sig)
	}
}

// carrying returns the processes whose environment holds the variable
// setting kv ("NAME=value"): those that sshd started for a lab host, even
// after they left its process tree.
func carrying(kv string) []int {
	want := []byte(kv + "\x00")
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		if bytes.HasPrefix(b, want) || bytes.Contains(b, append([]byte{0}, want...)) {
			pids = append(pids, pid)
		}
	}
	return pids
}
