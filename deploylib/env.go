package deploylib

import (
	"cmp"
	"strings"
)

// runEnv is what the environment says about a run. It is read once, when
// the run starts ([readEnv]); nothing deeper in the run reads the
// environment.
type runEnv struct {
	hosts, roles    string // HOSTS, ROLES: Capistrano's server filters
	dryRun          bool   // DRY_RUN=1: print every command, run none
	verbose         bool   // VERBOSE=1 (or mage -v): show test and capture commands too
	branch          string // BRANCH: overrides the configured branch
	rollbackRelease string // ROLLBACK_RELEASE: the release a rollback goes to
	force           bool   // FORCE=1: deploy:unlock removes a lock whose holder may be alive
	logFile         string // CAPSTAN_LOG_FILE: where the log goes ("off": nowhere)
	user            string // USER, LOGNAME or USERNAME: who deploys
}

// readEnv reads the run's environment variables with getenv (os.Getenv
// outside tests).
func readEnv(getenv func(string) string) runEnv {
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
	}
}
