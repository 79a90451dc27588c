package engine

import (
	"fmt"
	"reflect"
	"strings"
)

// Strategy produces the files of each release. [Git] (the default) keeps
// a mirror of the repository on every server and archives the revision
// from it; [Upload] builds the release on the machine running mage and
// streams it to every server. A team may supply its own.
type Strategy interface {
	// CheckTask returns the task that deploy:check runs first to make sure
	// the source is reachable (git:check).
	CheckTask() *Task
	// CreateReleaseTask returns the task that fills the new release
	// directory on every server (git:create_release). It must resolve the
	// revision once for the run and record it with [SetRevision].
	CreateReleaseTask() *Task
	// Validate reports a configuration the strategy cannot work with.
	Validate(c Config) error
}

// strategyAs returns s as the strategy type T, given as a value or a
// pointer, and whether it is one; the zero T otherwise.
func strategyAs[T Strategy](s Strategy) (T, bool) {
	switch v := any(s).(type) {
	case T:
		return v, true
	case *T:
		if v != nil {
			return *v, true
		}
	}
	var zero T
	return zero, false
}

// strategyName returns the type of s as a team writes it: deploylib.Git
// for the standard strategies (defined here, in the engine, and named in
// package deploylib), the Go type name (%T) for a team's own.
func strategyName(s Strategy) string {
	name := fmt.Sprintf("%T", s)
	t := reflect.TypeOf(s)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && t.PkgPath() == reflect.TypeFor[Git]().PkgPath() {
		name = strings.Replace(name, "engine.", "deploylib.", 1)
	}
	return name
}
