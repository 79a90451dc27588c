package remote

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"time"
)

// Layout is Capistrano's directory layout under one deploy_to, with
// Capstan's own state directory beside it.
type Layout struct {
	// DeployTo is the absolute directory that holds releases/.
	DeployTo string
}

// At returns the layout under deployTo.
func At(deployTo string) Layout { return Layout{DeployTo: deployTo} }

// Releases returns <deploy_to>/releases.
func (l Layout) Releases() string { return path.Join(l.DeployTo, "releases") }

// Release returns the directory of release name.
func (l Layout) Release(name string) string { return path.Join(l.Releases(), name) }

// Current returns <deploy_to>/current.
func (l Layout) Current() string { return path.Join(l.DeployTo, "current") }

// Shared returns <deploy_to>/shared.
func (l Layout) Shared() string { return path.Join(l.DeployTo, "shared") }

// Repo returns <deploy_to>/repo, the git mirror.
func (l Layout) Repo() string { return path.Join(l.DeployTo, "repo") }

// RevisionsLog returns <deploy_to>/revisions.log.
func (l Layout) RevisionsLog() string { return path.Join(l.DeployTo, "revisions.log") }

// State is where Capstan keeps its own files beside Capistrano's:
// unfinished markers, the lock, switch scratch space.
func (l Layout) State() string { return path.Join(l.DeployTo, ".capstan") }

// Unfinished holds one file per release that has not been published yet,
// holding the id of the run that made it.
func (l Layout) Unfinished() string { return path.Join(l.State(), "unfinished") }

// UnfinishedMarker returns the unfinished marker of release name.
func (l Layout) UnfinishedMarker(name string) string { return path.Join(l.Unfinished(), name) }

// switchDir is the scratch directory of a switch made by runID.
func (l Layout) switchDir(runID string) string { return path.Join(l.State(), "switch-"+runID) }

// markDir is the scratch directory in which runID writes an unfinished
// marker before renaming it into place (writeMarker).
func (l Layout) markDir(runID string) string { return path.Join(l.State(), "mark-"+runID) }

// NameLayout is the Go layout of release names: Capistrano's UTC
// %Y%m%d%H%M%S.
const NameLayout = "20060102150405"

var releaseName = regexp.MustCompile(`^[0-9]{14}$`)

// IsReleaseName reports whether name is a release directory name (14
// digits). Cleanup and rollback never touch anything else in releases/.
func IsReleaseName(name string) bool { return releaseName.MatchString(name) }

// ReleaseNameAt returns the release name for t.
func ReleaseNameAt(t time.Time) string { return t.UTC().Format(NameLayout) }

// ReleaseNameAfter returns the release name one second after name (14
// digits); a name that is not a valid time, or the last second of year
// 9999, is counted up as a number. Only after 99999999999999 is there no
// release name: it returns 15 digits ([HasReleaseNameAfter]).
func ReleaseNameAfter(name string) string {
	if t, err := time.Parse(NameLayout, name); err == nil {
		if next := ReleaseNameAt(t.Add(time.Second)); IsReleaseName(next) {
			return next
		}
	}
	n, _ := strconv.ParseUint(name, 10, 64)
	return fmt.Sprintf("%014d", n+1)
}

// HasReleaseNameAfter reports whether a release name sorts after name, so
// that a new release can be named after it ([ReleaseNameAfter]). Only
// 99999999999999 has none.
func HasReleaseNameAfter(name string) bool { return IsReleaseName(ReleaseNameAfter(name)) }
