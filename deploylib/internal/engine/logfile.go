package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/console"
)

// logFileDefault is where a run appends its log, relative to the directory
// mage runs in (the repository's top level).
const logFileDefault = "log/deploy.log"

// settingLogFile is the key of Config.Settings that moves the log file
// ("off" turns it off). The CAPSTAN_LOG_FILE environment variable
// overrides it, and [WithLogFile] overrides both.
const settingLogFile = "log_file"

// WithLogFile appends the run's log to path instead of log/deploy.log;
// "" turns the log file off.
func WithLogFile(path string) Option {
	return func(o *runOptions) { o.logFile = &path }
}

// defaultLogFile is where a run logs when nothing else says:
// logFileDefault. This package's tests set it to "" (nolog_test.go), so
// that their runs leave no log/ in the package directory; production code
// does not import testing to find out.
var defaultLogFile = logFileDefault

// logFilePath decides where the run logs: the option, else envFile
// (CAPSTAN_LOG_FILE), else the log_file setting, else defaultLogFile. ""
// or "off" means no log file.
func logFilePath(opt *string, cfg Config, envFile string) string {
	p := defaultLogFile
	switch {
	case opt != nil:
		p = *opt
	case envFile != "":
		p = envFile
	case cfg.Settings[settingLogFile] != "":
		p = cfg.Settings[settingLogFile]
	}
	if p == "off" {
		return ""
	}
	return p
}

// openLogFile opens path for appending, creating it (and its directory)
// with mode 0600, and tightens the mode of an existing file to 0600: the
// log holds every command sent to the servers.
func openLogFile(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		f.Chmod(0o600)
	}
	return f, nil
}

// setupLog opens the run's log file as o and cfg say. It returns the
// writer for the console (nil for none), the path, and a problem to warn
// about once the console exists.
func setupLog(o *runOptions, cfg Config, envFile string) (w io.Writer, path string, c io.Closer, problem error) {
	if o.logW != nil {
		return o.logW, "", nil, nil
	}
	path = logFilePath(o.logFile, cfg, envFile)
	if path == "" {
		return nil, "", nil, nil
	}
	f, err := openLogFile(path)
	if err != nil {
		return nil, "", nil, fmt.Errorf("no log file: %w", err)
	}
	return f, path, f, nil
}

// runLog owns the run's log file and what the run reports as it ends:
// the END line, the closing summary of a success, the failure block and
// the dry run's warnings, on the run's console (which writes the log).
type runLog struct {
	console *console.Console
	path    string    // the log file, "" when none
	file    io.Closer // closed with the run; nil when none
	dryRun  bool
	started time.Time
	now     func() time.Time
}

// LogPath returns the log file the run appends to, "" when it has none.
func (r *Run) LogPath() string { return r.log.path }

// logStart writes the START block of the run to the log.
func (r *Run) logStart(what string) {
	hosts := make([]string, len(r.hosts))
	for i, h := range r.hosts {
		hosts[i] = h.String()
	}
	desc := fmt.Sprintf("%s, stage %s, user %s, run %s, %s", what, r.Stage.Name, r.User, r.ID, countOf(len(hosts), "host"))
	if len(hosts) > 0 {
		desc += " (" + strings.Join(hosts, ", ") + ")"
	}
	if r.dryRun {
		desc += ", DRY RUN"
	}
	r.console.LogStart(r.Started, desc)
}

// logEnd writes the END line of the run to the log.
func (r *Run) logEnd(what string, err error) { r.log.end(what, err) }

// end writes the END line of what to the log.
func (l *runLog) end(what string, err error) {
	d := l.now().Sub(l.started).Seconds()
	if err != nil {
		l.console.Log("ERROR", fmt.Sprintf("END %s failed after %.1fs", what, d))
		return
	}
	l.console.Log("INFO", fmt.Sprintf("END %s finished in %.1fs", what, d))
}

// close closes the log file.
func (l *runLog) close() {
	if l.file != nil {
		l.file.Close()
	}
}

// finish reports the end of the run of root: the summary of a success,
// what o says, or the failure block of err.
func (l *runLog) finish(root *Task, err error, o outcome) {
	l.dryRunWarnings()
	if err == nil {
		l.summary(root, o)
		l.end(root.name, nil)
		return
	}
	l.end(root.name, err)
	l.failureReport(root, err)
}

// outcome is what the summary of a successful run says about it.
type outcome struct {
	release      string // the run's release, "" when it has none
	notPublished bool   // the run created its release on a host and did not publish it there
	revision     Revision
	hosts        int
}

// summary prints the closing line of a successful run of root: what ran,
// the release and revision, the hosts and the duration.
func (l *runLog) summary(root *Task, o outcome) {
	rev := o.revision
	var parts []string
	if rel := o.release; rel != "" {
		if o.notPublished {
			// A task run on its own (deploy:updating) built it: DESIGN
			// §3.4 keeps it marked unfinished.
			rel += " (not published: marked unfinished, so rollback never targets it and the next deploy's cleanup removes it)"
		}
		parts = append(parts, "release "+rel)
	}
	if rev.SHA != "" {
		s := "revision " + shortSHA(rev.SHA)
		if rev.Branch != "" && rev.Branch != rev.SHA {
			s += " (" + rev.Branch + ")"
		}
		parts = append(parts, s)
	}
	parts = append(parts, countOf(o.hosts, "host"), fmt.Sprintf("%.1fs", l.now().Sub(l.started).Seconds()))
	what := root.name + " finished: "
	if l.dryRun {
		what = "dry run of " + root.name + " finished, nothing was run: "
	}
	l.console.Success("%s%s", what, strings.Join(parts, ", "))
}

// failureReport prints the DEPLOY FAILED block for err, the failure of a
// run of root: the failed task, each failed command with its host and
// exit status, and the last lines of the log.
func (l *runLog) failureReport(root *Task, err error) {
	title := "DEPLOY FAILED"
	if root == Rollback {
		title = "ROLLBACK FAILED"
	} else if root != nil && root != Deploy {
		title = strings.ToUpper(root.name) + " FAILED"
	}
	f := console.Failure{Title: title, LogPath: l.path}
	var te *TaskError
	if errors.As(err, &te) {
		f.Task = te.Task
	}
	for _, ce := range commandErrors(err) {
		f.Commands = append(f.Commands, console.FailedCommand{Host: ce.Host, Command: ce.Command, Status: ce.status()})
	}
	if len(f.Commands) == 0 {
		msg := err.Error()
		if te != nil {
			msg = te.Err.Error()
		}
		f.Message = msg
	}
	l.console.Failed(f)
}

// status describes how the command ended, for the failure block.
func (e *CommandError) status() string {
	if e.Status > 0 {
		return fmt.Sprintf("exit status %d", e.Status)
	}
	return e.Err.Error()
}

// commandErrors returns every *CommandError in err's tree, in order.
func commandErrors(err error) []*CommandError {
	var out []*CommandError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *CommandError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

// dryRunWarnings says which hooks got assumed answers from Test or
// Capture in a dry run, so a hook that branches on them is not sent down
// a wrong branch silently.
func (l *runLog) dryRunWarnings() {
	if !l.dryRun {
		return
	}
	std := map[string]bool{}
	for _, t := range standardTasks() {
		std[t.name] = true
	}
	var hooks []string
	for _, name := range l.console.DryRunAssumptions() {
		if !std[name] {
			hooks = append(hooks, name)
		}
	}
	if len(hooks) > 0 {
		l.console.Warn("dry run: %s called Test or Capture, which answered true and \"\" without running anything; "+
			"a hook that branches on them should check deploylib.DryRun(ctx)", strings.Join(hooks, ", "))
	}
}

// Logf prints a message under the current task, indented like command
// output, and writes it to the log. Hooks use it instead of fmt.Printf so
// that what they say is in the log too, with secrets redacted. Outside a
// run it prints to standard output.
func Logf(ctx context.Context, format string, args ...any) {
	r := CurrentRun(ctx)
	if r == nil {
		fmt.Printf("      "+format+"\n", args...)
		return
	}
	r.console.Note(format, args...)
}

func countOf(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
