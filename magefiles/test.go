//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// requirement is a program the test suite needs and the Debian package
// that provides it.
type requirement struct {
	program, pkg string
}

var testRequirements = []requirement{
	{"git", "git"},
	{"/usr/sbin/sshd", "openssh-server"},
	{"ssh-keygen", "openssh-client"},
	{"sudo", "sudo"},      // Host.As runs commands as another user with sudo
	{"cap", "capistrano"}, // the compatibility test deploys with Capistrano 3
}

// Test installs what the tests need (git, openssh-server, capistrano; with apt-get when run as root) and runs every test.
func Test(ctx context.Context) error {
	if err := ensureTestTools(ctx); err != nil {
		return err
	}
	args := []string{"test", "-count=1", "-timeout=30m", "./..."}
	if extra := os.Getenv("TESTFLAGS"); extra != "" {
		args = append(args[:1], append(strings.Fields(extra), args[1:]...)...)
	}
	fmt.Println("go", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// ensureTestTools installs the missing requirements with apt-get when
// running as root, and otherwise says exactly what to install.
func ensureTestTools(ctx context.Context) error {
	var missing []string
	for _, r := range testRequirements {
		if _, err := exec.LookPath(r.program); err != nil {
			missing = append(missing, r.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("the tests need %s: run sudo apt-get install -y %s (or your system's equivalent), then go tool mage test",
			strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	fmt.Println("installing", strings.Join(missing, " "), "with apt-get")
	for _, args := range [][]string{{"update", "-qq"}, append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get %s: %w", strings.Join(args, " "), err)
		}
	}
	return nil
}
