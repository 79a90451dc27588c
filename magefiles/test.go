//go:build mage

package main

import (
	"context"
	"errors"
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

// crossGOOS are the other systems operators deploy from: every package,
// tests and magefiles included, must build and vet clean there.
var crossGOOS = []string{"darwin", "windows"}

// Test installs what the tests need (git, openssh-server, capistrano; with apt-get when run as root), runs every test (the magefiles' too), and vets every package for macOS and Windows.
func Test(ctx context.Context) error {
	if err := ensureTestTools(ctx); err != nil {
		return err
	}
	args := []string{"test", "-count=1", "-timeout=30m", "./..."}
	if extra := os.Getenv("TESTFLAGS"); extra != "" {
		args = append(args[:1], append(strings.Fields(extra), args[1:]...)...)
	}
	var errs []error
	if err := goCmd(ctx, nil, args...); err != nil {
		errs = append(errs, fmt.Errorf("go test ./...: %w", err))
	}
	// go test ./... leaves out the magefiles (build tag mage): their hook
	// tests run on their own. Every check runs even when one failed, so
	// that one run reports them all.
	if err := goCmd(ctx, nil, "test", "-count=1", "-tags", "mage", "./magefiles/"); err != nil {
		errs = append(errs, fmt.Errorf("go test -tags mage ./magefiles/: %w", err))
	}
	return errors.Join(append(errs, crossVet(ctx))...)
}

// crossVet runs go vet on every package, and on the magefiles with the
// mage build tag, for each of crossGOOS.
func crossVet(ctx context.Context) error {
	var errs []error
	for _, goos := range crossGOOS {
		env := []string{"GOOS=" + goos, "GOARCH=amd64", "CGO_ENABLED=0"}
		for _, args := range [][]string{{"vet", "./..."}, {"vet", "-tags", "mage", "./magefiles"}} {
			if err := goCmd(ctx, env, args...); err != nil {
				errs = append(errs, fmt.Errorf("GOOS=%s go %s: %w", goos, strings.Join(args, " "), err))
			}
		}
	}
	return errors.Join(errs...)
}

// goCmd runs go with args, the extra environment env, and this process's
// output, printing the command line first.
func goCmd(ctx context.Context, env []string, args ...string) error {
	fmt.Println(strings.TrimSpace(strings.Join(env, " ") + " go " + strings.Join(args, " ")))
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), env...)
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
