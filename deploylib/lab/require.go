package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// sshdPath is where Debian, Ubuntu and Fedora install sshd; sshd must be
// started by absolute path (it re-executes itself).
const sshdPath = "/usr/sbin/sshd"

// ErrUnavailable is what the errors of [Check] and [New] wrap when this
// machine cannot run a lab.
var ErrUnavailable = errors.New("this machine cannot run an SSH lab")

// Check returns nil when this machine can run a lab: Linux, OpenSSH's sshd
// at /usr/sbin/sshd, git, and when running as root unshare, mount,
// useradd and usermod. Otherwise its error wraps [ErrUnavailable] and
// names what is missing.
func Check() error {
	if missing := missingTools(); len(missing) > 0 {
		return fmt.Errorf("lab: %w: missing %s", ErrUnavailable, strings.Join(missing, ", "))
	}
	return nil
}

// Require skips t unless this machine can run a lab (see [Check]). When
// the environment variable CI is "true", it fails t instead of skipping
// it, so that a CI machine without sshd cannot pass by running nothing.
func Require(t testing.TB) {
	t.Helper()
	if err := Check(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err.Error() + " (CI=true: install openssh-server and git)")
		}
		t.Skip(err.Error())
	}
}

func missingTools() []string {
	if runtime.GOOS != "linux" {
		return []string{"Linux"}
	}
	var missing []string
	if _, err := os.Stat(sshdPath); err != nil {
		missing = append(missing, sshdPath+" (openssh-server)")
	}
	tools := []string{"git"}
	if os.Geteuid() == 0 {
		tools = append(tools, "unshare", "mount", "useradd", "usermod")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	return missing
}

// RequireRoot skips t (fails it, under CI=true) unless the test runs as
// root, which a lab needs to give each host its own /srv and a login user
// of its own. why says what in the test needs root.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	Require(t)
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal(why + " needs root; CI=true: run the tests as root")
		}
		t.Skip(why + " needs root")
	}
}

// RequireSharedDeployTo skips t (fails it, under CI=true) unless every
// host of l has the same DeployTo (/srv/app in a /srv of its own), as the
// servers of a real stage do: the lab runs as root with private mount
// namespaces. Tests that deploy several hosts with one configuration need
// it.
func (l *Lab) RequireSharedDeployTo(t testing.TB) {
	t.Helper()
	for _, h := range l.Hosts {
		if h.DeployTo != l.Hosts[0].DeployTo {
			if os.Getenv("CI") == "true" {
				t.Fatal("the lab's hosts have no /srv of their own (run the tests as root, with mount namespaces)")
			}
			t.Skip("the lab's hosts share no DeployTo: run as root for private mount namespaces")
		}
	}
}
