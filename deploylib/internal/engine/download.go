package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Download copies the file remote from h (relative to h's directory, see
// [Host.Within]; as h's user, see [Host.As]) to localDir/<host>/<name>,
// where <host> is the server as the console prints it, made safe for a
// file name (deploy@web1_2222), and <name> is remote's base name. Called
// for every host in [On], it writes one file per host. The file appears
// whole or not at all, with mode 0600; its contents are neither shown
// nor logged. It
// returns the local path. A dry run writes nothing.
func (h *Host) Download(ctx context.Context, remote, localDir string) (string, error) {
	name := path.Base(remote)
	if remote == "" || name == "/" || name == "." || name == ".." {
		return "", fmt.Errorf("%s: download: %q does not name a file", h, remote)
	}
	dir := filepath.Join(localDir, hostDirName(h.String()))
	dest := filepath.Join(dir, name)
	cmd := shell.New("cat", "--", remote)
	if h.run.dryRun {
		_, err := h.runCommand(ctx, cmd, runOpts{})
		return dest, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%s: download %s: %w", h, remote, err)
	}
	f, err := os.CreateTemp(dir, "."+name+".part-*")
	if err != nil {
		return "", fmt.Errorf("%s: download %s: %w", h, remote, err)
	}
	defer os.Remove(f.Name()) // after the rename, nothing to remove
	_, err = h.runCommand(ctx, cmd, runOpts{hidden: true, capture: true, stdout: f})
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%s: download %s: %w", h, remote, cerr)
	}
	if err != nil {
		return "", err
	}
	if err := os.Rename(f.Name(), dest); err != nil {
		return "", fmt.Errorf("%s: download %s: %w", h, remote, err)
	}
	return dest, nil
}

// DownloadFiles copies the file remote from every selected host of the
// stage (HOSTS and ROLES apply) at once into localDir/<host>/<name>, as
// [Host.Download] does: remote is relative to the current release, or
// absolute. localDir is created if missing; one that cannot be written
// is refused before any host is asked. A host without the file (or
// without a current release, for a relative remote) fails the run,
// named with the path it lacked; the other hosts' files are still
// written. It runs like [RunAdHoc] (the log file, Ctrl-C, no lock). It
// is the download target: mage production download log/production.log
// ./logs.
func DownloadFiles(ctx context.Context, remote, localDir string, opts ...Option) error {
	if strings.TrimSpace(remote) == "" || strings.TrimSpace(localDir) == "" {
		return errors.New("download: give the remote file and the local directory, e.g. mage production download log/production.log ./logs")
	}
	return startReadOnly(ctx, "download "+strconv.Quote(remote)+" to "+strconv.Quote(localDir), opts, func(ctx context.Context, r *Run) error {
		return downloadAll(ctx, r, remote, localDir)
	})
}

// DownloadFiles copies remote from d's selected hosts (see the
// package-level [DownloadFiles]).
func (d *Deployment) DownloadFiles(ctx context.Context, remote, localDir string, opts ...Option) error {
	return DownloadFiles(ctx, remote, localDir, append(opts, withDeployment(d))...)
}

// downloadAll downloads remote from every host of r into localDir.
func downloadAll(ctx context.Context, r *Run, remote, localDir string) error {
	if !r.dryRun {
		if err := checkWritableDir(localDir); err != nil {
			return fmt.Errorf("download: %w", err)
		}
	}
	r.console.Task("download")
	full := remote
	if !path.IsAbs(remote) {
		full = path.Join(r.CurrentPath(), remote)
	}
	err := On(ctx, All(), func(ctx context.Context, h *Host) error {
		dest, err := h.Download(ctx, full, localDir)
		if err != nil {
			return fmt.Errorf("download %s: %w", full, err) // err names the host
		}
		if !r.dryRun {
			size := ""
			if fi, err := os.Stat(dest); err == nil {
				size = fmt.Sprintf(" (%d bytes)", fi.Size())
			}
			r.console.Info("%s: %s -> %s%s", h, full, dest, size)
		}
		return nil
	})
	if err != nil {
		if r.intr.signal() == nil {
			// The ✘ lines above show each host's error.
			r.console.Error("download " + (&adhocError{Failed: commandErrors(err), Hosts: len(r.hosts), Err: err}).Error())
		}
		return err
	}
	r.console.Success("download finished: %s, %.1fs", countOf(len(r.hosts), "host"), r.now().Sub(r.Started).Seconds())
	return nil
}

// checkWritableDir makes dir if it is missing and checks that a file can
// be created in it.
func checkWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create the local directory %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".capstan-download-*")
	if err != nil {
		return fmt.Errorf("cannot write into the local directory %s: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// hostDirName makes a host as the console prints it usable as a directory
// name: anything but letters, digits and @._- becomes _.
func hostDirName(host string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("@._-", r):
			return r
		}
		return '_'
	}, host)
}
