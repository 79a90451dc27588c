package sshbackend_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/lab"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

func TestUploadDownload(t *testing.T) {
	t.Parallel()
	_, h, c := startOne(t)
	ctx := context.Background()
	if _, _, err := run(ctx, c, shell.New("mkdir", "-p", h.DeployTo)); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	tests := []struct {
		name string
		data []byte
		mode fs.FileMode
	}{
		{"script.sh", []byte("#!/bin/sh\necho hi\n"), 0o755},
		{"secret.yml", []byte("password: x\n"), 0o600},
		{"big.bin", big, 0o644},
		{"empty", nil, 0o640},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			remote := h.DeployTo + "/" + tt.name
			if err := c.Upload(ctx, bytes.NewReader(tt.data), remote, tt.mode); err != nil {
				t.Fatal(err)
			}
			out, _, err := run(ctx, c, shell.New("stat", "-c", "%a", remote))
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("%o\n", tt.mode); out != want {
				t.Errorf("remote mode %q, want %q", out, want)
			}
			fi, err := os.Stat(filepath.Join(h.Root, "app", tt.name))
			if err != nil || fi.Mode().Perm() != tt.mode {
				t.Errorf("local view: %v, %v", fi, err)
			}
			var back bytes.Buffer
			if err := c.Download(ctx, remote, &back); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back.Bytes(), tt.data) {
				t.Errorf("downloaded %d bytes, uploaded %d", back.Len(), len(tt.data))
			}
		})
	}
	// Overwriting replaces the file whole; no temporary file is left.
	remote := h.DeployTo + "/script.sh"
	if err := c.Upload(ctx, strings.NewReader("v2\n"), remote, 0o700); err != nil {
		t.Fatal(err)
	}
	out, _, _ := run(ctx, c, shell.Raw("ls -a "+shell.Quote(h.DeployTo)+" | grep -c capstan; cat "+shell.Quote(remote)))
	if out != "0\nv2\n" {
		t.Errorf("after overwrite: %q", out)
	}
	var buf bytes.Buffer
	err := c.Download(ctx, h.DeployTo+"/no-such-file", &buf)
	if err == nil || !errors.Is(err, fs.ErrNotExist) && !strings.Contains(err.Error(), "not exist") {
		t.Errorf("Download of a missing file: %v", err)
	}
	if err := c.Upload(ctx, strings.NewReader("x"), "/nonexistent-dir/x", 0o644); err == nil {
		t.Errorf("Upload into a missing directory succeeded")
	}
}

func TestSessionsDoNotLeak(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	h := l.Hosts[0]
	c := dial(t, l.SSHConfig(h))
	ctx := context.Background()
	if _, _, err := run(ctx, c, shell.New("mkdir", "-p", h.DeployTo)); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if err := c.Upload(ctx, strings.NewReader("x"), fmt.Sprintf("%s/f%d", h.DeployTo, i), 0o644); err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
	}
	// Failing uploads, failing commands and cancelled ones must free their
	// sessions too.
	for range 5 {
		c.Upload(ctx, strings.NewReader("x"), "/nonexistent-dir/x", 0o644)
		c.Run(ctx, shell.Raw("exit 1"), backend.Stdio{})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		c.Run(cctx, shell.New("true"), backend.Stdio{})
	}
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range 10 {
		wg.Go(func() { _, _, errs[i] = run(ctx, c, shell.Raw("sleep 0.3")) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("run %d: %v", i, err)
		}
	}
	if strings.Contains(h.Log(), "no more sessions") {
		t.Logf("sshd refused a session at least once (retried)")
	}
}

// blockingReader yields head, signals reached, then waits for release
// before yielding tail.
type blockingReader struct {
	head, tail []byte
	reached    chan struct{}
	release    chan struct{}
	state      int
}

func (r *blockingReader) Read(p []byte) (int, error) {
	switch r.state {
	case 0:
		r.state = 1
		return copy(p, r.head), nil
	case 1:
		close(r.reached)
		<-r.release
		r.state = 2
		return copy(p, r.tail), nil
	}
	return 0, io.EOF
}

// While an upload is under way, nothing it created is readable by other
// users: the data is never in a file that another user could open.
func TestUploadPrivateWhileWriting(t *testing.T) {
	t.Parallel()
	_, h, c := startOne(t)
	ctx := context.Background()
	if _, _, err := run(ctx, c, shell.New("mkdir", "-p", h.DeployTo)); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []fs.FileMode{0o600, 0o644} {
		r := &blockingReader{head: []byte("password: first half\n"), tail: []byte("second half\n"),
			reached: make(chan struct{}), release: make(chan struct{})}
		done := make(chan error, 1)
		remote := h.DeployTo + "/secrets.yml"
		go func() { done <- c.Upload(ctx, r, remote, mode) }()
		<-r.reached
		// The first bytes are written; look at what the upload made.
		local := filepath.Join(h.Root, "app")
		filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == local {
				return nil
			}
			fi, _ := d.Info()
			if d.IsDir() && fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("mode %v: directory %s is %v while the upload writes", mode, p, fi.Mode().Perm())
			}
			if !d.IsDir() && p != filepath.Join(local, "secrets.yml") && !privateParent(p) && fi.Mode().Perm()&0o044 != 0 {
				t.Errorf("mode %v: %s is %v, readable by others while the upload writes", mode, p, fi.Mode().Perm())
			}
			return nil
		})
		close(r.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		out, _, _ := run(ctx, c, shell.Raw("stat -c %a "+shell.Quote(remote)+"; ls -a "+shell.Quote(h.DeployTo)+" | grep -c capstan"))
		if want := fmt.Sprintf("%o\n0\n", mode); out != want {
			t.Errorf("after the upload: %q, want %q", out, want)
		}
	}
}

// privateParent reports whether p's directory is closed to other users.
func privateParent(p string) bool {
	fi, err := os.Stat(filepath.Dir(p))
	return err == nil && fi.Mode().Perm()&0o077 == 0
}
