package deploylib

import (
	"path"
	"regexp"
	"sort"
	"time"
)

// ReleaseNameLayout is the Go layout of release names: Capistrano's UTC
// %Y%m%d%H%M%S.
const ReleaseNameLayout = "20060102150405"

var releaseName = regexp.MustCompile(`^[0-9]{14}$`)

// IsReleaseName reports whether name is a release directory name (14
// digits). Cleanup and rollback never touch anything else in releases/.
func IsReleaseName(name string) bool { return releaseName.MatchString(name) }

// ReleaseNameAt returns the release name for t.
func ReleaseNameAt(t time.Time) string { return t.UTC().Format(ReleaseNameLayout) }

// stateDir is where Capstan keeps its own files beside Capistrano's:
// unfinished markers, the lock, switch scratch space.
func stateDir(deployTo string) string { return path.Join(deployTo, ".capstan") }

// unfinishedDir holds one empty file per release that has not been
// published yet.
func unfinishedDir(deployTo string) string { return path.Join(stateDir(deployTo), "unfinished") }

// releaseListing is what a host reports about its releases.
type releaseListing struct {
	releases   []string        // 14-digit names, sorted by name, oldest first
	unfinished map[string]bool // releases never published
	complete   map[string]bool // real directories holding a REVISION file
	current    string          // name of the release current points at, "" if none
	currentRaw string          // what readlink printed
}

// finished returns the finished releases, oldest first.
func (l releaseListing) finished() []string {
	var out []string
	for _, r := range l.releases {
		if !l.unfinished[r] {
			out = append(out, r)
		}
	}
	return out
}

// cleanupCandidates returns the releases deploy:cleanup removes: every
// unfinished release except skip (the run's own), then the oldest finished
// ones beyond keep; never current.
func (l releaseListing) cleanupCandidates(keep int, skip string) []string {
	var out []string
	for _, r := range l.releases {
		if l.unfinished[r] && r != l.current && r != skip {
			out = append(out, r)
		}
	}
	fin := l.finished()
	if len(fin) > keep {
		for _, r := range fin[:len(fin)-keep] {
			if r != l.current {
				out = append(out, r)
			}
		}
	}
	sort.Strings(out)
	return out
}
