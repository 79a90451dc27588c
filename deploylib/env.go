package deploylib

import (
	"os"
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

// readEnv reads the run's environment variables.
func readEnv() runEnv {
	return runEnv{
		hosts:           os.Getenv("HOSTS"),
		roles:           os.Getenv("ROLES"),
		dryRun:          envFlag("DRY_RUN"),
		verbose:         os.Getenv("VERBOSE") == "1" || os.Getenv("MAGEFILE_VERBOSE") == "1",
		branch:          os.Getenv("BRANCH"),
		rollbackRelease: strings.TrimSpace(os.Getenv("ROLLBACK_RELEASE")),
		force:           envFlag("FORCE"),
		logFile:         os.Getenv("CAPSTAN_LOG_FILE"),
		user:            firstEnv("USER", "LOGNAME", "USERNAME"),
	}
}

// envFlag reports whether the environment variable name is set to
// something other than "" or "0".
func envFlag(name string) bool {
	v := os.Getenv(name)
	return v != "" && v != "0"
}

// firstEnv returns the first of the variables that is set and not empty.
func firstEnv(names ...string) string {
	for _, k := range names {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return ""
}
