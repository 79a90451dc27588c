package remote

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// AppendLog appends line to revisions.log (Capistrano runs it from
// releases/). A log whose last line was cut short (a full disk, a crash)
// gets a newline first, so the new line stays whole. The line is written
// with printf, not echo: dash's echo reads backslashes in it (a user named
// DOMAIN\alice) as escapes.
func (l Layout) AppendLog(line string) shell.Command {
	log := l.RevisionsLog()
	return shell.New("tail", "-c", "1", log).Quiet().Pipe(shell.New("grep", "-q", ".")).And(shell.New("echo").AppendTo(log)).
		Then(shown(shell.New("printf", `%s\n`, line).AppendTo(log))).
		In(l.Releases())
}

// DeployLogLine is Capistrano's revisions.log line for a deploy.
func DeployLogLine(branch, sha, release, user string) string {
	return fmt.Sprintf("Branch %s (at %s) deployed as release %s by %s", branch, sha, release, user)
}

// RollbackLogLine is Capistrano's revisions.log line for a rollback.
func RollbackLogLine(user, release string) string {
	return fmt.Sprintf("%s rolled back to release %s", user, release)
}

// LogEntry is one line of revisions.log.
type LogEntry struct {
	// Release is the release the line is about, "" when it names none.
	Release string
	// User deployed the release or rolled back to it.
	User string
	// Branch and SHA are set for a deploy line.
	Branch string
	SHA    string
	// Rollback is set for a rollback line.
	Rollback bool
	// Line is the line as written.
	Line string
}

var (
	deployLine   = regexp.MustCompile(`^Branch (\S+) \(at (\S+)\) deployed as release ([0-9]{14}) by (.+)$`)
	rollbackLine = regexp.MustCompile(`^(.+) rolled back to release ([0-9]{14})$`)
	anyRelease   = regexp.MustCompile(`\b[0-9]{14}\b`)
)

// ParseRevisionsLog reads revisions.log: Capistrano's deploy lines
// ("Branch main (at <sha>) deployed as release <name> by alice") and
// rollback lines ("alice rolled back to release <name>"). Other lines (a
// custom RevisionLogMessage) are kept with the first release name they
// mention, if any.
func ParseRevisionsLog(text string) []LogEntry {
	var out []LogEntry
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		e := LogEntry{Line: line}
		if m := deployLine.FindStringSubmatch(line); m != nil {
			e.Branch, e.SHA, e.Release, e.User = m[1], m[2], m[3], m[4]
		} else if m := rollbackLine.FindStringSubmatch(line); m != nil {
			e.User, e.Release, e.Rollback = m[1], m[2], true
		} else {
			e.Release = anyRelease.FindString(line)
		}
		out = append(out, e)
	}
	return out
}
