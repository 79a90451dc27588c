//go:build !unix

package backend

import (
	"context"
	"errors"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// TestLocalUnavailable: without /bin/sh the local backend says so and runs
// nothing.
func TestLocalUnavailable(t *testing.T) {
	if err := LocalAvailable(); !errors.Is(err, ErrNoLocalShell) {
		t.Errorf("LocalAvailable: %v, want ErrNoLocalShell", err)
	}
	err := (&Local{}).Run(context.Background(), shell.New("true"), Stdio{})
	if !errors.Is(err, ErrNoLocalShell) {
		t.Errorf("Run: %v, want ErrNoLocalShell", err)
	}
}
