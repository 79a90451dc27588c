package remote

import (
	"fmt"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// AppendLog appends line to revisions.log (Capistrano runs it from
// releases/). A log whose last line was cut short (a full disk, a crash)
// gets a newline first, so the new line stays whole.
func (l Layout) AppendLog(line string) shell.Command {
	log := l.RevisionsLog()
	return shell.New("tail", "-c", "1", log).Quiet().Pipe(shell.New("grep", "-q", ".")).And(shell.New("echo").AppendTo(log)).
		Then(shown(shell.New("echo", line).AppendTo(log))).
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
