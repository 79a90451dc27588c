package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Host is one sshd of a lab. Every command it runs has CAPSTAN_LAB_HOST
// in its environment (sshd's SetEnv), by which Stop finds the commands
// that left sshd's process tree.
type Host struct {
	// Name is "host1", "host2", ...
	Name string
	// Addr is "127.0.0.1:PORT", Port its port.
	Addr string
	Port int
	// Pid is the sshd listener's process ID.
	Pid int
	// Root is the local directory that the host sees as /srv when the lab
	// runs as root (a private mount namespace per host); it belongs to the
	// login user.
	Root string
	// DeployTo is the deploy_to to use on this host: "/srv/app" when the
	// host has its own /srv, else Root+"/app". Locally, it is always
	// Root+"/app".
	DeployTo string
	// HostKeys are the host's public keys, one authorized_keys-style line
	// each ("ssh-ed25519 AAAA... host1").
	HostKeys []string
	// LogFile is sshd's log (LogLevel DEBUG1).
	LogFile string

	dir  string // the host's own files
	lab  *Lab
	done chan struct{}

	mu      sync.Mutex
	stopped bool
	paused  []int
}

// Log returns sshd's log so far.
func (h *Host) Log() string {
	b, _ := os.ReadFile(h.LogFile)
	return string(b)
}

// Stop kills the host's sshd and every process it started (connections and
// the commands they run), by process ID, and waits for the listener to
// exit. It may be called more than once.
func (h *Host) Stop() { _ = h.stop() }

// stop is Stop, failing when the listener has not exited 5 s after SIGKILL.
func (h *Host) stop() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped || h.Pid == 0 {
		return nil
	}
	h.stopped = true
	signalAll(freezeTree(h.Pid), syscall.SIGKILL)
	// Commands whose connection is gone are no longer in the tree
	// (closing a session without a terminal does not end its command),
	// but they carry the host's variable.
	for range 5 {
		strays := carrying(h.envMarker())
		if len(strays) == 0 {
			break
		}
		signalAll(strays, sigStop)
		signalAll(strays, syscall.SIGKILL)
		time.Sleep(5 * time.Millisecond)
	}
	h.paused = nil
	select {
	case <-h.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s: sshd %d still running 5s after SIGKILL", h.Name, h.Pid)
	}
}

// Execute runs name with args on h over SSH, as the lab's User, with
// nothing on its standard input, and fails unless it exits 0; the error
// holds its standard error. It dials h for this one command.
func (h *Host) Execute(ctx context.Context, name string, args ...string) error {
	_, err := h.Capture(ctx, name, args...)
	return err
}

// Capture is [Host.Execute] returning the command's standard output with
// surrounding white space trimmed.
func (h *Host) Capture(ctx context.Context, name string, args ...string) (string, error) {
	if h.lab == nil {
		return "", fmt.Errorf("%s: not a host of a lab started by New or Start", h.Name)
	}
	cmd := shell.New(name, args...)
	conn, err := sshbackend.Dial(ctx, h.lab.SSHConfig(h))
	if err != nil {
		return "", fmt.Errorf("%s: %w", h.Name, err)
	}
	defer conn.Close()
	var stdout, stderr bytes.Buffer
	if err := conn.Run(ctx, cmd, backend.Stdio{Stdout: &stdout, Stderr: &stderr}); err != nil {
		return "", fmt.Errorf("%s: %s: %w: %s", h.Name, cmd, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// Pause freezes the host with SIGSTOP: its sshd listener and every process
// it started, so open connections stop answering too. New TCP connections
// are still accepted by the kernel, but no SSH banner ever comes.
func (h *Host) Pause() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return
	}
	h.paused = append(h.paused, freezeTree(h.Pid)...)
	strays := carrying(h.envMarker())
	signalAll(strays, sigStop)
	h.paused = append(h.paused, strays...)
}

// envMarker is the variable setting that sshd puts in the environment of
// every command it runs for h ("SetEnv" in its configuration).
func (h *Host) envMarker() string { return "CAPSTAN_LAB_HOST=" + h.dir }

// Resume lets a paused host go on with SIGCONT.
func (h *Host) Resume() {
	h.mu.Lock()
	defer h.mu.Unlock()
	signalAll(h.paused, sigCont)
	h.paused = nil
}

// hostSetup is what startHost needs from the lab.
type hostSetup struct {
	authorizedKeys string
	keyTypes       []string
	acct           account
	namespace      bool // give the host its own /srv
	extraConfig    string
}

// startHost prepares h's files and starts its sshd, retrying with another
// port when the one picked was taken meanwhile.
func startHost(ctx context.Context, h *Host, s hostSetup, port int) error {
	h.Root = filepath.Join(h.dir, "srv")
	h.LogFile = filepath.Join(h.dir, "sshd.log")
	if err := os.MkdirAll(h.Root, 0o755); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(h.Root, s.acct.uid, s.acct.gid); err != nil {
			return err
		}
	}
	h.DeployTo = filepath.Join(h.Root, "app")
	if s.namespace {
		h.DeployTo = "/srv/app"
	}
	var hostKeyLines []string
	for _, typ := range s.keyTypes {
		path := filepath.Join(h.dir, "ssh_host_"+typ+"_key")
		if _, err := writeKey(path, typ, h.Name); err != nil {
			return err
		}
		b, err := os.ReadFile(path + ".pub")
		if err != nil {
			return err
		}
		h.HostKeys = append(h.HostKeys, strings.TrimSpace(string(b)))
		hostKeyLines = append(hostKeyLines, "HostKey "+path)
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			if port, err = freePort(); err != nil {
				return err
			}
		}
		if err = launch(ctx, h, s, port, hostKeyLines); !errors.Is(err, errPortTaken) {
			return err
		}
	}
	return err
}

var errPortTaken = errors.New("port taken")

// launch writes the sshd configuration for port and starts sshd.
func launch(ctx context.Context, h *Host, s hostSetup, port int, hostKeyLines []string) error {
	h.Port = port
	h.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cfg := filepath.Join(h.dir, "sshd_config")
	conf := fmt.Sprintf(`# %s of a Capstan test lab
ListenAddress %s
%s
PidFile none
UsePAM no
StrictModes no
AuthorizedKeysFile %s
PubkeyAuthentication yes
PasswordAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
AllowAgentForwarding yes
MaxSessions 10
MaxStartups 100:30:200
UseDNS no
PrintMotd no
PrintLastLog no
LogLevel DEBUG1
Subsystem sftp internal-sftp
SetEnv "%s"
%s`, h.Name, h.Addr, strings.Join(hostKeyLines, "\n"), s.authorizedKeys, h.envMarker(), s.extraConfig)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return err
	}
	_ = os.Remove(h.LogFile)
	args := []string{"-D", "-E", h.LogFile, "-f", cfg}
	var cmd *exec.Cmd
	if s.namespace {
		// unshare and sh exec in place: the PID is sshd's in the end.
		script := "mount --bind " + shell.Quote(h.Root) + " /srv && exec " + sshdPath + ` "$@"`
		cmd = exec.Command("unshare", append([]string{"--mount", "--propagation", "private",
			"sh", "-c", script, "sshd"}, args...)...)
	} else {
		cmd = exec.Command(sshdPath, args...)
	}
	// A file, not a pipe: Wait must not wait for sshd's children.
	stderr, err := os.Create(filepath.Join(h.dir, "sshd.stderr"))
	if err != nil {
		return err
	}
	defer stderr.Close()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: starting sshd: %w", h.Name, err)
	}
	h.Pid = cmd.Process.Pid
	h.done = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(h.done)
	}()
	return h.waitReady(ctx, stderr.Name())
}

// waitReady waits until sshd logs that it listens and accepts a TCP
// connection, or fails when it exits, takes too long or ctx ends.
func (h *Host) waitReady(ctx context.Context, stderrFile string) error {
	listening := fmt.Sprintf("Server listening on 127.0.0.1 port %d", h.Port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-h.done:
			log := h.Log()
			h.Pid = 0
			if strings.Contains(log, "Address already in use") {
				return errPortTaken
			}
			stderr, _ := os.ReadFile(stderrFile)
			return fmt.Errorf("%s: sshd exited at startup: %s%s", h.Name, stderr, log)
		default:
		}
		if strings.Contains(h.Log(), listening) {
			c, err := net.DialTimeout("tcp", h.Addr, time.Second)
			if err == nil {
				c.Close()
				return nil
			}
		}
		if time.Now().After(deadline) {
			h.Stop()
			return fmt.Errorf("%s: sshd not listening on %s after 10s: %s", h.Name, h.Addr, h.Log())
		}
		if err := ctx.Err(); err != nil {
			h.Stop()
			return fmt.Errorf("%s: waiting for sshd: %w", h.Name, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
