package engine

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
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
