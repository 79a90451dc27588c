package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
	"github.com/capstan-deploy/capstan/deploylib/internal/flock"
)

// Options configure a lab.
type Options struct {
	// Hosts is the number of hosts; 0 means 1.
	Hosts int
	// KeyTypes are the host key types every host gets, among "ed25519",
	// "ecdsa" and "rsa"; nil means ed25519 only. All of them are in
	// KnownHosts.
	KeyTypes []string
	// Logf, if set, receives notes on how the lab differs from what was
	// asked for (hosts without their own /srv, say). Start sets it to the
	// test's Logf.
	Logf func(format string, args ...any)
}

// Lab is a set of running sshd hosts and what it takes to log in to them.
type Lab struct {
	Hosts []*Host
	// ClientKey is the path of a private key (ed25519, no passphrase)
	// authorised on every host, for User and for root.
	ClientKey string
	// KnownHosts is the path of a known_hosts file with every key of every
	// host, as "[127.0.0.1]:PORT key" lines.
	KnownHosts string
	// User is the login user: LoginUser ("capstanlab", created if missing,
	// with safe.directory=* in its ~/.gitconfig so that its git reads the
	// root-owned Repo) when the lab runs as root, else the current user.
	User string
	// Repo is the path of a bare git repository, readable by User, whose
	// branch main holds Commits.
	Repo string
	// Commits are the SHAs of Repo's branch main, oldest first. They are
	// the same in every lab.
	Commits []string
	// Dir is the lab's base directory, readable and traversable by User.
	// Close removes it.
	Dir string

	closeOnce sync.Once
	closeErr  error
}

// Start starts a lab with [New] for the test t and closes it when t ends.
// It skips t (or fails it, under CI=true) when the machine cannot run a
// lab (see [Require]), and fails t when the lab does not start.
func Start(t testing.TB, opts Options) *Lab {
	t.Helper()
	Require(t)
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	l, err := New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// New starts a lab of opts.Hosts hosts, their sshds in parallel, and
// returns it running; the caller stops it with [Lab.Close]. It needs no
// test: a benchmark, a program or a TestMain can run a lab too. ctx
// bounds the start only; the hosts run until Close. When this machine
// cannot run a lab the error wraps [ErrUnavailable]. When New fails it
// leaves nothing running.
func New(ctx context.Context, opts Options) (*Lab, error) {
	if err := Check(); err != nil {
		return nil, err
	}
	if opts.Hosts <= 0 {
		opts.Hosts = 1
	}
	if len(opts.KeyTypes) == 0 {
		opts.KeyTypes = []string{"ed25519"}
	}
	dir, err := os.MkdirTemp("", "capstan-lab-")
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	l := &Lab{Dir: dir}
	if err := l.start(ctx, opts); err != nil {
		return nil, errors.Join(fmt.Errorf("lab: %w", err), l.Close())
	}
	return l, nil
}

// start sets up and starts l in l.Dir; on error, l.Close undoes it.
func (l *Lab) start(ctx context.Context, opts Options) error {
	dir := l.Dir
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	root := os.Geteuid() == 0
	acct, err := loginAccount(ctx)
	if err != nil {
		return fmt.Errorf("login user: %w", err)
	}
	l.User = acct.name

	l.ClientKey = filepath.Join(dir, "client_ed25519")
	if _, err := writeKey(l.ClientKey, "ed25519", "capstan-lab-client"); err != nil {
		return fmt.Errorf("client key: %w", err)
	}
	authorizedKeys := filepath.Join(dir, "authorized_keys")
	if err := copyFile(l.ClientKey+".pub", authorizedKeys); err != nil {
		return fmt.Errorf("authorized_keys: %w", err)
	}

	setup := hostSetup{authorizedKeys: authorizedKeys, keyTypes: opts.KeyTypes, acct: acct}
	if root {
		for _, d := range []string{"/run/sshd", "/srv"} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		if err := canUnshare(); err != nil {
			if opts.Logf != nil {
				opts.Logf("lab: no private mount namespaces (%v): DeployTo is each host's Root+\"/app\"", err)
			}
		} else {
			setup.namespace = true
		}
	}
	setup.extraConfig = versionConfig()

	ports, err := freePorts(opts.Hosts)
	if err != nil {
		return fmt.Errorf("free ports: %w", err)
	}
	l.Hosts = make([]*Host, opts.Hosts)
	for i := range l.Hosts {
		name := "host" + strconv.Itoa(i+1)
		l.Hosts[i] = &Host{Name: name, dir: filepath.Join(dir, name), lab: l}
		if err := os.Mkdir(l.Hosts[i].dir, 0o755); err != nil {
			return err
		}
	}
	errs := make([]error, opts.Hosts)
	var wg sync.WaitGroup
	for i, h := range l.Hosts {
		wg.Go(func() { errs[i] = startHost(ctx, h, setup, ports[i]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	var known strings.Builder
	for _, h := range l.Hosts {
		for _, k := range h.HostKeys {
			f := strings.Fields(k)
			fmt.Fprintf(&known, "[127.0.0.1]:%d %s %s\n", h.Port, f[0], f[1])
		}
	}
	l.KnownHosts = filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(l.KnownHosts, []byte(known.String()), 0o600); err != nil {
		return err
	}

	if l.Repo, l.Commits, err = makeRepo(ctx, dir); err != nil {
		return fmt.Errorf("repository: %w", err)
	}
	if root {
		if err := allowRepo(acct); err != nil {
			return fmt.Errorf("safe.directory for %s: %w", acct.name, err)
		}
	}
	return nil
}

// Close stops every host, by process ID (see [Host.Stop]), and removes
// Dir. It may be called more than once; later calls return the first
// one's result.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, h := range l.Hosts {
			if h != nil {
				wg.Go(func() {
					if err := h.stop(); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				})
			}
		}
		wg.Wait()
		if err := os.RemoveAll(l.Dir); err != nil {
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			l.closeErr = fmt.Errorf("lab: closing: %w", err)
		}
	})
	return l.closeErr
}

// SSHConfig returns a configuration that dials h as User with ClientKey,
// checking its key against KnownHosts, and ignoring the user's own SSH
// configuration and agent.
func (l *Lab) SSHConfig(h *Host) sshbackend.Config {
	return sshbackend.Config{
		Host:            "127.0.0.1",
		Port:            h.Port,
		User:            l.User,
		KnownHostsFiles: []string{l.KnownHosts},
		IdentityFiles:   []string{l.ClientKey},
		SSHConfigFile:   "none",
	}
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// canUnshare reports whether this process may make private mount
// namespaces (root in a container without CAP_SYS_ADMIN may not).
var canUnshare = sync.OnceValue(func() error {
	out, err := exec.Command("unshare", "--mount", "--propagation", "private", "true").CombinedOutput()
	if err != nil {
		return fmt.Errorf("unshare: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
})

// versionConfig returns sshd settings that depend on its version:
// OpenSSH 9.8 and later penalise addresses whose connections fail (as
// the host key tests' do), which would lock the tests out.
var versionConfig = sync.OnceValue(func() string {
	out, _ := exec.Command(sshdPath, "-V").CombinedOutput()
	m := regexp.MustCompile(`OpenSSH_(\d+)\.(\d+)`).FindSubmatch(out)
	if m == nil {
		return ""
	}
	major, _ := strconv.Atoi(string(m[1]))
	minor, _ := strconv.Atoi(string(m[2]))
	if major > 9 || major == 9 && minor >= 8 {
		return "PerSourcePenalties no\n"
	}
	return ""
})

// allowRepo lets the login user's git read repositories that root owns
// (git refuses a repository owned by someone else: safe.directory).
func allowRepo(acct account) error {
	unlock, err := flock.Lock("/tmp/capstan-lab-user.lock")
	if err != nil {
		return err
	}
	defer unlock()
	path := filepath.Join(acct.home, ".gitconfig")
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	const entry = "[safe]\n\tdirectory = *\n"
	if strings.Contains(string(b), entry) {
		return nil
	}
	tmp := path + ".capstan-lab"
	if err := os.WriteFile(tmp, append(b, entry...), 0o644); err != nil {
		return err
	}
	if err := os.Chown(tmp, acct.uid, acct.gid); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}
