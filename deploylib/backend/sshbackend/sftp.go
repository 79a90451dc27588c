package sshbackend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"

	"github.com/pkg/sftp"
)

// Upload writes what r yields to remotePath on the host, with permissions
// mode (not altered by the remote umask), over SFTP. The file is written
// under a temporary name inside a private directory (mode 0700) made
// beside remotePath, then renamed over remotePath at the end: remotePath
// never holds a partial file, and no other user can open the file while
// it is written, whatever mode it ends with (SFTP cannot give a mode when
// it creates a file, so the file alone would be 0644 until the copy ends).
// A symbolic link at remotePath is replaced, not followed. Upload uses one
// session slot. When ctx ends, it stops between reads of r.
func (c *Conn) Upload(ctx context.Context, r io.Reader, remotePath string, mode fs.FileMode) error {
	return c.withSFTP(ctx, "upload "+remotePath, func(sc *sftp.Client) error {
		var b [6]byte
		_, _ = rand.Read(b[:])
		dir := path.Join(path.Dir(remotePath), "."+path.Base(remotePath)+".capstan-"+hex.EncodeToString(b[:]))
		if err := sc.Mkdir(dir); err != nil {
			return err
		}
		// Mkdir's mode is the server's default (0777 less its umask):
		// nothing is created inside before the directory is private.
		tmp := path.Join(dir, "upload")
		err := sc.Chmod(dir, 0o700)
		var f *sftp.File
		if err == nil {
			f, err = sc.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		}
		if err == nil {
			_, err = io.Copy(f, ctxReader{ctx, r})
			if err == nil {
				err = f.Chmod(mode)
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err == nil {
			err = sc.PosixRename(tmp, remotePath)
		}
		if err != nil {
			_ = sc.Remove(tmp)
		}
		if rerr := sc.RemoveDirectory(dir); err == nil {
			err = rerr
		}
		return err
	})
}

// Download copies remotePath on the host to w over SFTP. It uses one
// session slot. When ctx ends, it stops between writes to w.
func (c *Conn) Download(ctx context.Context, remotePath string, w io.Writer) error {
	return c.withSFTP(ctx, "download "+remotePath, func(sc *sftp.Client) error {
		f, err := sc.Open(remotePath)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteTo(ctxWriter{ctx, w})
		return err
	})
}

// withSFTP runs fn with an SFTP client on a session of its own, and closes
// both on every path.
func (c *Conn) withSFTP(ctx context.Context, what string, fn func(*sftp.Client) error) error {
	sess, closeSession, err := c.openSession(ctx)
	if err != nil {
		return err
	}
	defer closeSession()
	fail := func(err error) error { return c.failure("sftp", fmt.Errorf("%s: %w", what, err)) }
	stdin, err := sess.StdinPipe()
	if err != nil {
		return fail(err)
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	if err := sess.RequestSubsystem("sftp"); err != nil {
		return fail(err)
	}
	sc, err := sftp.NewClientPipe(stdout, stdin)
	if err != nil {
		return fail(err)
	}
	err = fn(sc)
	// Close ends the server's input and waits for its output to end, so the
	// server is done with the session before the slot is given back.
	sc.Close()
	if err != nil {
		if ctx.Err() != nil {
			return &OpError{Addr: c.addr, Op: "sftp", Err: fmt.Errorf("%s: stopped: %w", what, ctx.Err())}
		}
		return fail(err)
	}
	return nil
}

// ctxReader is a reader that fails once ctx has ended.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// ctxWriter is a writer that fails once ctx has ended.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (w ctxWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}
