package lab

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/internal/flock"
)

// LoginUser is the non-root user that a lab run as root logs in as.
const LoginUser = "capstanlab"

// account is the lab's login user.
type account struct {
	name     string
	uid, gid int
	home     string
}

// loginAccount returns the user to log in as: the current user, or
// LoginUser (created if missing) when running as root.
func loginAccount(ctx context.Context) (account, error) {
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			return account{}, err
		}
		return toAccount(u)
	}
	// Test binaries of several packages may get here at once.
	unlock, err := flock.Lock("/tmp/capstan-lab-user.lock")
	if err != nil {
		return account{}, err
	}
	defer unlock()
	u, err := user.Lookup(LoginUser)
	if err != nil {
		shell := "/bin/sh"
		if _, err := os.Stat("/bin/bash"); err == nil {
			shell = "/bin/bash"
		}
		out, err := exec.CommandContext(ctx, "useradd", "--create-home", "--shell", shell,
			"--password", "*", "--comment", "Capstan test lab", LoginUser).CombinedOutput()
		if err != nil {
			return account{}, fmt.Errorf("useradd %s: %v: %s", LoginUser, err, out)
		}
		if u, err = user.Lookup(LoginUser); err != nil {
			return account{}, err
		}
	}
	// With UsePAM no, sshd refuses accounts whose password starts with "!"
	// (locked), which is how useradd leaves them by default.
	if locked(LoginUser) {
		if out, err := exec.CommandContext(ctx, "usermod", "--password", "*", LoginUser).CombinedOutput(); err != nil {
			return account{}, fmt.Errorf("usermod %s: %v: %s", LoginUser, err, out)
		}
	}
	a, err := toAccount(u)
	if err != nil {
		return a, err
	}
	if err := os.MkdirAll(a.home, 0o755); err != nil {
		return a, err
	}
	return a, os.Chown(a.home, a.uid, a.gid)
}

func toAccount(u *user.User) (account, error) {
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return account{}, fmt.Errorf("user %s: non-numeric uid %q or gid %q", u.Username, u.Uid, u.Gid)
	}
	return account{name: u.Username, uid: uid, gid: gid, home: u.HomeDir}, nil
}

// locked reports whether name's password in /etc/shadow marks the account
// locked.
func locked(name string) bool {
	f, err := os.Open("/etc/shadow")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), ":", 3)
		if len(fields) >= 2 && fields[0] == name {
			return strings.HasPrefix(fields[1], "!")
		}
	}
	return false
}
