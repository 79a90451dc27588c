package engine

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Config describes the application being deployed. A team calls
// [Configure] once, from init in its magefile.
type Config struct {
	// Application names the application (Capistrano's :application).
	Application string
	// RepoURL is the repository the git strategy clones on every server.
	RepoURL string
	// Branch is the branch, tag or commit to deploy; a stage's Branch
	// overrides it, and the BRANCH environment variable both (BRANCH=x
	// mage staging deploy, as with Capistrano). Default "main".
	Branch string
	// DeployTo is the directory holding releases/, shared/, current and
	// repo/ on every server. A stage may override it. Required.
	DeployTo string
	// KeepReleases is how many finished releases deploy:cleanup keeps.
	// Default 5; values below 1 are an error.
	KeepReleases int
	// LinkedFiles are paths, relative to the release, that are symlinks to
	// the same paths under shared/ (Capistrano's linked_files). Each must
	// already exist in shared/ on every server.
	LinkedFiles []string
	// LinkedDirs are directories, relative to the release, that are
	// symlinks into shared/ (Capistrano's linked_dirs); deploy:check
	// creates them in shared/.
	LinkedDirs []string
	// Strategy produces each release's files. Default: [Git].
	Strategy Strategy
	// RepoTree, when set, deploys only this subdirectory of the repository.
	RepoTree string
	// Env is exported to every remote command. Its values show on every
	// command line, in the console, the log and ps on the servers: put
	// secrets in SecretEnv instead.
	Env map[string]string
	// SecretEnv is exported to every remote command, single commands and
	// the scripts that run several tasks at once alike, as
	// [Host.WithSecretEnv] does: each value travels on the command's
	// standard input, never on a command line, and is redacted from
	// everything Capstan prints. A stage's SecretEnv is set over it key by
	// key. Values must not contain a newline; a key must not also be in Env.
	SecretEnv map[string]Secret
	// Settings holds a team's own settings; read them with [Setting].
	Settings map[string]string
	// CommandTimeout, when positive, stops any remote command running
	// longer than this.
	CommandTimeout time.Duration
	// HealthCheck, when set, must pass on every release host after current
	// switched, else every host goes back to its previous release
	// (healthcheck.go).
	HealthCheck *HealthCheck
	// RevisionLogMessage, when set, replaces Capistrano's line that
	// deploy:log_revision appends to revisions.log for a deploy
	// (Capistrano's revision_log_message). Rollbacks keep Capistrano's line.
	RevisionLogMessage func(rev Revision, release, user string) string
}

// withDefaults returns c with stage overrides and defaults applied.
func (c Config) withDefaults(s Stage) Config {
	if s.DeployTo != "" {
		c.DeployTo = s.DeployTo
	}
	if s.RepoURL != "" {
		c.RepoURL = s.RepoURL
	}
	if s.Branch != "" {
		c.Branch = s.Branch
	}
	c = s.configure(c) // stageconfig.go
	if c.Branch == "" {
		c.Branch = "main"
	}
	if c.KeepReleases == 0 {
		c.KeepReleases = 5
	}
	if c.Strategy == nil {
		c.Strategy = Git{}
	}
	return c
}

// validate reports the first problem with c, naming the setting.
func (c Config) validate() error {
	switch {
	case strings.TrimSpace(c.DeployTo) == "":
		return fmt.Errorf("config: DeployTo is empty; set it to the directory that holds releases/ on the servers")
	case !path.IsAbs(c.DeployTo):
		return fmt.Errorf("config: DeployTo %q is not an absolute path%s", c.DeployTo, homeHint(c.DeployTo)) // homeHint: selectwarn.go
	case path.Clean(c.DeployTo) == "/":
		return fmt.Errorf("config: DeployTo is %q; deploying into / would let cleanup remove system directories", c.DeployTo)
	case strings.ContainsAny(c.DeployTo, "\n\r\x00"):
		return fmt.Errorf("config: DeployTo %q contains a newline or NUL", c.DeployTo)
	case slices.Contains(strings.Split(c.DeployTo, "/"), ".."):
		return fmt.Errorf("config: DeployTo %q has a .. element; write the directory without it", c.DeployTo)
	case urlPassword.MatchString(c.RepoURL):
		return fmt.Errorf("config: RepoURL has a password in it (%s): it would show in ps on the servers and stay in the mirror's git config; use an SSH deploy key, or a git credential helper on the servers", redact(c.RepoURL))
	case c.KeepReleases < 1:
		return fmt.Errorf("config: KeepReleases is %d; it must be at least 1", c.KeepReleases)
	}
	if err := validateRef(c.Branch); err != nil {
		return fmt.Errorf("config: branch: %w", err)
	}
	for _, f := range c.LinkedFiles {
		if err := validateRelPath(f); err != nil {
			return fmt.Errorf("config: LinkedFiles: %w", err)
		}
	}
	for _, d := range c.LinkedDirs {
		if err := validateRelPath(d); err != nil {
			return fmt.Errorf("config: LinkedDirs: %w", err)
		}
	}
	if err := validateLinkedOverlap(c.LinkedFiles, c.LinkedDirs); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.RepoTree != "" {
		if err := validateRelPath(c.RepoTree); err != nil {
			return fmt.Errorf("config: RepoTree: %w", err)
		}
	}
	for k := range c.Env {
		if !shell.ValidEnvKey(k) {
			return fmt.Errorf("config: Env: %q is not a valid variable name", k)
		}
	}
	for k, v := range c.SecretEnv {
		switch _, inEnv := c.Env[k]; {
		case !shell.ValidEnvKey(k):
			return fmt.Errorf("config: SecretEnv: %q is not a valid variable name", k)
		case inEnv:
			return fmt.Errorf("config: %s is in both Env and SecretEnv; keep it in SecretEnv only", k)
		case v.IsZero():
			return fmt.Errorf("config: SecretEnv: %s is empty; make it with NewSecret or SecretFromEnv", k)
		case strings.ContainsAny(v.value, "\n\r\x00"):
			return fmt.Errorf("config: SecretEnv: %s contains a newline or NUL, which cannot be passed on standard input; upload it as a file instead", k)
		}
	}
	if err := c.HealthCheck.validate(); err != nil {
		return err
	}
	return c.Strategy.Validate(c)
}

// validateRelPath rejects paths that would leave the release or shared
// directory, or that a shell or git would misread.
func validateRelPath(p string) error {
	switch {
	case p == "" || strings.TrimSpace(p) == "":
		return fmt.Errorf("empty path")
	case path.IsAbs(p):
		return fmt.Errorf("%q is absolute; give a path relative to the release", p)
	case strings.ContainsAny(p, "\n\r\x00"):
		return fmt.Errorf("%q contains a control character", p)
	case strings.HasPrefix(p, "-"):
		return fmt.Errorf("%q starts with -", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return fmt.Errorf("%q leaves the release directory", p)
		}
	}
	if path.Clean(p) == "." {
		return fmt.Errorf("%q names the release directory itself", p)
	}
	return nil
}

// validateLinkedOverlap refuses linked paths that overlap: the same path
// twice, or a path inside a linked dir. Linking the outer one replaces it
// with a symlink into shared/, so linking the inner one would act through
// that symlink, inside shared/.
func validateLinkedOverlap(files, dirs []string) error {
	type linked struct{ kind, path string }
	var all []linked
	for _, f := range files {
		all = append(all, linked{"LinkedFiles", path.Clean(f)})
	}
	for _, d := range dirs {
		all = append(all, linked{"LinkedDirs", path.Clean(d)})
	}
	for i, a := range all {
		for _, b := range all[i+1:] {
			switch {
			case a.path == b.path:
				return fmt.Errorf("%s and %s both name %q; name each linked path once", a.kind, b.kind, a.path)
			case a.kind == "LinkedDirs" && strings.HasPrefix(b.path, a.path+"/"),
				b.kind == "LinkedDirs" && strings.HasPrefix(a.path, b.path+"/"):
				outer, inner := a, b
				if len(b.path) < len(a.path) {
					outer, inner = b, a
				}
				return fmt.Errorf("%s %q is inside the linked dir %q: the release's %s is a symlink to shared/%s, so shared/%s already holds it; remove %q from %s", inner.kind, inner.path, outer.path, outer.path, outer.path, inner.path, inner.path, inner.kind)
			case a.kind == "LinkedFiles" && strings.HasPrefix(b.path, a.path+"/"),
				b.kind == "LinkedFiles" && strings.HasPrefix(a.path, b.path+"/"):
				return fmt.Errorf("%s %q and %s %q overlap: a linked file cannot hold other paths", a.kind, a.path, b.kind, b.path)
			}
		}
	}
	return nil
}

// validateRef rejects branch, tag or commit names that git would read as an
// option or that git forbids (git check-ref-format's rules, plus no spaces).
func validateRef(ref string) error {
	switch {
	case ref == "":
		return fmt.Errorf("empty branch")
	case strings.HasPrefix(ref, "-"):
		return fmt.Errorf("%q starts with - and would be read as an option", ref)
	case strings.ContainsAny(ref, " ~^:?*[\\\x7f"):
		return fmt.Errorf("%q contains a character git does not allow in a ref name", ref)
	case strings.Contains(ref, "..") || strings.Contains(ref, "@{") || strings.HasSuffix(ref, ".lock") || strings.HasSuffix(ref, "/") || strings.HasSuffix(ref, "."):
		return fmt.Errorf("%q is not a valid ref name", ref)
	}
	for _, r := range ref {
		if r < 0x20 {
			return fmt.Errorf("%q contains a control character", ref)
		}
	}
	return nil
}
