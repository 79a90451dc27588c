package engine

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/internal/remote"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Upload is the strategy for teams that build on the machine running mage:
// each release's files are packed there into one tar stream and unpacked
// into the release on every server, so the servers need neither git nor
// repository credentials. It works on the Local backend too.
//
// With Dir set, the release is that local directory's contents (for
// example the output of go build, produced by Build); its revision is the
// local repository's HEAD, marked dirty when the working tree has
// uncommitted changes. With Dir empty, the release is a local git archive
// of the configured branch (Config.RepoTree applies).
type Upload struct {
	// Dir is the local directory to upload, relative to the working
	// directory (the repository root under mage). Empty means git archive.
	// It may be a symbolic link to the directory.
	Dir string
	// Build, when set, produces Dir's contents on this machine (go build,
	// npm run build, ...). It runs in upload:check, in deploy:check before
	// the deploy lock is taken, so a slow build holds no lock; it does not
	// run in a dry run.
	Build func(ctx context.Context) error
	// Repo is the local git repository used for the revision and the
	// archive. Default ".".
	Repo string
}

// UploadCheck checks that the local source exists and resolves.
var UploadCheck = &Task{name: "upload:check", doc: "checks the local release source"}

// UploadCreateRelease packs the release locally once and streams it to
// every server.
var UploadCreateRelease = &Task{name: "upload:create_release", doc: "uploads the release to every server"}

func init() {
	UploadCheck.action = uploadCheck
	UploadCreateRelease.action = uploadCreateRelease
}

// CheckTask implements [Strategy].
func (Upload) CheckTask() *Task { return UploadCheck }

// CreateReleaseTask implements [Strategy].
func (Upload) CreateReleaseTask() *Task { return UploadCreateRelease }

// Validate implements [Strategy].
func (u Upload) Validate(c Config) error {
	if u.Dir != "" && c.RepoTree != "" {
		return fmt.Errorf("config: RepoTree applies to git archives; with Upload{Dir: %q} upload the subdirectory itself", u.Dir)
	}
	return nil
}

func (u Upload) repo() string {
	if u.Repo == "" {
		return "."
	}
	return u.Repo
}

// resolve finds the revision to deploy in the local repository.
func (u Upload) resolve(branch string) (Revision, error) {
	spec := branch
	rev := Revision{Branch: branch}
	if u.Dir != "" {
		// A build directory holds what the working tree built: HEAD.
		spec = "HEAD"
		if b, err := gitOutput(u.repo(), "symbolic-ref", "--quiet", "--short", "HEAD"); err == nil && b != "" {
			rev.Branch = b
		}
	}
	out, err := gitOutput(u.repo(), remote.GitResolveArgs(spec)...)
	if err != nil {
		return rev, fmt.Errorf("resolving %q in the local repository %s: %w", spec, u.repo(), err)
	}
	rev.SHA, rev.Time, err = remote.ParseResolved(out)
	if rev.Branch == "HEAD" {
		rev.Branch = rev.SHA
	}
	if err == nil && u.Dir != "" {
		// Tracked files only: the build directory itself is often
		// untracked.
		status, serr := gitOutput(u.repo(), "status", "--porcelain", "--untracked-files=no")
		if serr != nil {
			return rev, fmt.Errorf("checking the working tree of %s: %w", u.repo(), serr)
		}
		rev.Dirty = strings.TrimSpace(status) != ""
	}
	return rev, err
}

func uploadCheck(ctx context.Context) error {
	r := CurrentRun(ctx)
	u, _ := strategyAs[Upload](r.Config.Strategy)
	if u.Build != nil {
		if r.dryRun {
			r.console.Info("dry run: Upload.Build not run")
		} else if err := u.Build(ctx); err != nil {
			return fmt.Errorf("Upload.Build: %w", err)
		}
	}
	if u.Dir != "" {
		fi, err := os.Stat(u.Dir)
		if err == nil && !fi.IsDir() {
			err = fmt.Errorf("not a directory")
		}
		// The directory may be produced by a build hook that runs later;
		// only a path that exists as something else is an error here.
		if err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("upload directory %s: %w", u.Dir, err)
		}
	}
	rev, err := u.resolve(r.Config.Branch)
	if err == nil && rev.Dirty {
		r.console.Warn("the working tree of %s has uncommitted changes: %s is built from them, and is recorded as revision %s", u.repo(), u.Dir, rev.Recorded())
	}
	return err
}

func uploadCreateRelease(ctx context.Context) error {
	r := CurrentRun(ctx)
	u, _ := strategyAs[Upload](r.Config.Strategy)
	rev, err := u.resolve(r.Config.Branch)
	if err != nil {
		return err
	}
	if err := SetRevision(ctx, rev); err != nil {
		return err
	}
	// Pack once into a temporary file; every host reads its own section.
	tmp, err := os.CreateTemp("", "capstan-release-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if u.Dir != "" {
		err = writeDirTar(tmp, u.Dir)
	} else {
		err = writeGitArchive(ctx, tmp, u.repo(), rev.SHA, r.Config.RepoTree)
	}
	if err != nil {
		return err
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if n, err := countTarEntries(io.NewSectionReader(tmp, 0, size)); err != nil {
		return fmt.Errorf("reading the packed release: %w", err)
	} else if n == 0 {
		what := "the tree of " + shortSHA(rev.SHA)
		if u.Dir != "" {
			what = "upload directory " + u.Dir
		}
		return fmt.Errorf("%s is empty: refusing to publish an empty release (nothing was changed on the servers)", what)
	}
	release, err := r.runRelease(UploadCreateRelease)
	if err != nil {
		return err
	}
	cmd := r.layout().CreateRelease(path.Base(release), r.ID, shell.New("tar", "-x", "--no-same-owner", "-f", "-", "-C", release)).
		And(remote.WriteRevision(release, rev.Recorded(), rev.Time))
	return On(ctx, ReleaseHosts(), func(ctx context.Context, h *Host) error {
		st := r.state.of(h)
		st.created = true
		if err := h.Stream(ctx, cmd, io.NewSectionReader(tmp, 0, size)); err != nil {
			return err
		}
		st.learned.revisionWritten = true
		return nil
	})
}

// writeGitArchive writes a tar of sha (or its subdirectory tree) from the
// local repository.
func writeGitArchive(ctx context.Context, w io.Writer, repo, sha, tree string) error {
	spec := sha
	if tree != "" {
		spec = sha + ":" + strings.Trim(filepath.ToSlash(filepath.Clean(tree)), "/")
	}
	cmd := exec.CommandContext(ctx, "git", "archive", "--format=tar", spec)
	cmd.Dir = repo
	cmd.Stdout = w
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("git archive %s in %s: %v: %s", spec, repo, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// countTarEntries returns the number of entries in a tar stream.
func countTarEntries(r io.Reader) (int, error) {
	tr := tar.NewReader(r)
	n := 0
	for {
		_, err := tr.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// writeDirTar writes dir's contents as a tar stream, keeping modes and
// symbolic links; the entries are relative to dir. Dir itself may be a
// symbolic link (dist -> build/linux-amd64): its target is packed.
func writeDirTar(w io.Writer, dir string) error {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("packing %s: %w", dir, err)
	}
	if err := writeTreeTar(w, root); err != nil {
		return fmt.Errorf("packing %s: %w", dir, err)
	}
	return nil
}

// writeTreeTar writes the tree below dir, which is not a symbolic link.
func writeTreeTar(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		hdr.Name = filepath.ToSlash(rel)
		hdr.Uname, hdr.Gname = "", ""
		hdr.Uid, hdr.Gid = 0, 0
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
