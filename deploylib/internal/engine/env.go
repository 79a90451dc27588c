package engine

import (
	"cmp"
	"os"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/console"
)

// runEnv is what the environment says about a run. It is read once, when
// the run starts ([readEnv]); nothing deeper in the run reads the
// environment. readEnv and [lookupEnv] are the package's only readers of
// the process environment (TestOnlyEnvGoReadsTheEnvironment).
type runEnv struct {
	hosts, roles    string // HOSTS, ROLES: Capistrano's server filters
	dryRun          bool   // DRY_RUN=1: print every command, run none
	verbose         bool   // VERBOSE=1 (or mage -v): show test and capture commands too
	branch          string // BRANCH: overrides the configured branch
	rollbackRelease string // ROLLBACK_RELEASE: the release a rollback goes to
	force           bool   // FORCE=1: deploy:unlock removes a lock whose holder may be alive
	logFile         string // CAPSTAN_LOG_FILE: where the log goes ("off": nowhere)
	user            string // USER, LOGNAME or USERNAME: who deploys
	shell           string // SHELL: the local shell of mage <stage> ssh on a Local server
	shellNoExec     bool   // CAPSTAN_SHELL_NO_EXEC: mage <stage> ssh runs ssh as a child, even on a terminal
	color           console.ColorEnv
}

// envReader returns getenv, or the process environment's reader when getenv
// is nil (tests give their own).
func envReader(getenv func(string) string) func(string) string {
	if getenv == nil {
		return os.Getenv
	}
	return getenv
}

// readEnv reads the run's environment variables with getenv; nil reads
// the process environment (tests give their own).
func readEnv(getenv func(string) string) runEnv {
	getenv = envReader(getenv)
	// flag reports whether the variable is set to something other than ""
	// or "0".
	flag := func(name string) bool {
		v := getenv(name)
		return v != "" && v != "0"
	}
	return runEnv{
		hosts:           getenv("HOSTS"),
		roles:           getenv("ROLES"),
		dryRun:          flag("DRY_RUN"),
		verbose:         getenv("VERBOSE") == "1" || getenv("MAGEFILE_VERBOSE") == "1",
		branch:          getenv("BRANCH"),
		rollbackRelease: strings.TrimSpace(getenv("ROLLBACK_RELEASE")),
		force:           flag("FORCE"),
		logFile:         getenv("CAPSTAN_LOG_FILE"),
		user:            cmp.Or(getenv("USER"), getenv("LOGNAME"), getenv("USERNAME")),
		shell:           getenv("SHELL"),
		shellNoExec:     getenv("CAPSTAN_SHELL_NO_EXEC") != "",
		color:           console.ReadColorEnv(getenv),
	}
}

// lookupEnv returns the process's environment variable name, for
// [SecretFromEnv], which the team's code calls outside any run.
func lookupEnv(name string) string { return os.Getenv(name) }
