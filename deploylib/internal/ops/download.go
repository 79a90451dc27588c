package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
)

// DownloadFiles copies the file remote from every selected host of the
// stage (HOSTS and ROLES apply) at once into localDir/<host>/<name>, as
// [engine.Host.Download] does: remote is relative to the current release, or
// absolute. localDir is created if missing; one that cannot be written
// is refused before any host is asked. A host without the file (or
// without a current release, for a relative remote) fails the run,
// named with the path it lacked; the other hosts' files are still
// written. It runs like [RunAdHoc] (the log file, Ctrl-C, no lock). It
// is the download target: mage production download log/production.log
// ./logs.
func DownloadFiles(ctx context.Context, remote, localDir string, opts ...engine.Option) error {
	if strings.TrimSpace(remote) == "" || strings.TrimSpace(localDir) == "" {
		return errors.New("download: give the remote file and the local directory, e.g. mage production download log/production.log ./logs")
	}
	return engine.StartReadOnly(ctx, "download "+strconv.Quote(remote)+" to "+strconv.Quote(localDir), opts, func(ctx context.Context, s *engine.Session) error {
		return downloadAll(ctx, s, remote, localDir)
	})
}

// downloadAll downloads remote from every host of s into localDir.
func downloadAll(ctx context.Context, s *engine.Session, remote, localDir string) error {
	if !s.DryRun() {
		if err := checkWritableDir(localDir); err != nil {
			return fmt.Errorf("download: %w", err)
		}
	}
	s.Console().Task("download")
	full := remote
	if !path.IsAbs(remote) {
		full = path.Join(s.Run().CurrentPath(), remote)
	}
	err := engine.On(ctx, engine.All(), func(ctx context.Context, h *engine.Host) error {
		dest, err := h.Download(ctx, full, localDir)
		if err != nil {
			return fmt.Errorf("download %s: %w", full, err) // err names the host
		}
		if !s.DryRun() {
			size := ""
			if fi, err := os.Stat(dest); err == nil {
				size = fmt.Sprintf(" (%d bytes)", fi.Size())
			}
			s.Console().Info("%s: %s -> %s%s", h, full, dest, size)
		}
		return nil
	})
	if err != nil {
		if !s.Interrupted() {
			// The ✘ lines above show each host's error.
			s.Console().Error("download " + (&adhocError{Failed: engine.CommandErrors(err), Hosts: len(s.Hosts()), Err: err}).Error())
		}
		return err
	}
	s.Console().Success("download finished: %s, %.1fs", engine.CountOf(len(s.Hosts()), "host"), s.Elapsed().Seconds())
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
