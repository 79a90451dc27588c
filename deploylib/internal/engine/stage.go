package engine

import (
	"fmt"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Stage is one deployment target: a named set of servers with its own
// settings. A team writes one per file in its stages package and selects
// it from a mage target with [UseStage].
type Stage struct {
	// Name is what the user types: "production" in mage production deploy.
	// Left empty, [UseStage] names the stage after the mage target that
	// calls it, as mage does: func Production gives "production".
	Name string
	// Branch overrides Config.Branch for this stage.
	Branch string
	// DeployTo overrides Config.DeployTo for this stage.
	DeployTo string
	// RepoURL overrides Config.RepoURL for this stage.
	RepoURL string
	// Servers are the stage's hosts. At least one is required.
	Servers []Server
	// SSH holds the SSH settings of every server of the stage.
	SSH SSHOptions
	// Settings are set over Config.Settings for this stage, key by key
	// (Capistrano's set in a stage file); hooks read them with Setting.
	Settings map[string]string
	// Env is exported to every remote command of this stage, over
	// Config.Env key by key.
	Env map[string]string
	// SecretEnv is exported to every remote command of this stage, over
	// Config.SecretEnv key by key, without its values on any command line
	// (see Config.SecretEnv).
	SecretEnv map[string]Secret `json:"-"`
	// KeepReleases, when above 0, overrides Config.KeepReleases for this
	// stage (Capistrano's set :keep_releases in a stage file).
	KeepReleases int
	// AppendLinkedFiles are added after Config.LinkedFiles for this stage
	// (Capistrano's append :linked_files in a stage file).
	AppendLinkedFiles []string
	// AppendLinkedDirs are added after Config.LinkedDirs for this stage
	// (Capistrano's append :linked_dirs in a stage file).
	AppendLinkedDirs []string
	// Configure, when set, changes anything else of the configuration for
	// this stage (Strategy, CommandTimeout, ...). It gets a copy,
	// with the stage's other overrides applied, when a run starts. A stage
	// encoded as JSON leaves it out.
	Configure func(*Config) `json:"-"`
}

// Server is one host of a stage.
type Server struct {
	// Host is "user@host:port"; user and port are optional, and an IPv6
	// address is written in brackets: "deploy@[::1]:2222".
	Host string
	// Roles are the roles the server plays ("app", "web", "db").
	Roles []string
	// Primary marks the server that Primary(role) selects for its roles.
	Primary bool
	// NoRelease keeps the server out of the release tasks (git, symlinks,
	// cleanup); hooks can still select it by role.
	NoRelease bool
	// Local runs the server's commands on this machine through /bin/sh
	// instead of SSH. The embedded local stage uses it.
	Local bool
	// Properties holds the server's own settings, read with Host.Property.
	Properties map[string]string
}

// SSHOptions are the SSH settings of a stage. The zero value verifies host
// keys against ~/.ssh/known_hosts and authenticates with ssh-agent and the
// default key files.
type SSHOptions struct {
	// KnownHostsFile is read in addition to ~/.ssh/known_hosts; with
	// AcceptNewHostKeys, new keys are recorded in it.
	KnownHostsFile string
	// KnownHostsOnly reads KnownHostsFile alone, not ~/.ssh/known_hosts.
	KnownHostsOnly bool
	// AcceptNewHostKeys records the keys of hosts not yet known (never a
	// changed key). Off by default.
	AcceptNewHostKeys bool
	// IdentityFiles are private keys to offer, before the defaults.
	IdentityFiles []string
	// ForwardAgent forwards the local ssh-agent to the servers.
	ForwardAgent bool
	// ProxyJump reaches every server through these jump hosts
	// ("user@bastion:22", comma-separated for a chain).
	ProxyJump string
	// ConfigFile replaces ~/.ssh/config.
	ConfigFile string
}

// HasRole reports whether s plays role. The role "all" matches every server.
func (s Server) HasRole(role string) bool {
	return role == "all" || slices.Contains(s.Roles, role)
}

// validate checks the stage's own fields.
func (s Stage) validate() error {
	if s.Name == "" {
		return fmt.Errorf("stage has no name: set Stage.Name, or call UseStage from the stage's mage target, which names it")
	}
	if len(s.Servers) == 0 {
		return fmt.Errorf("stage %s has no servers", s.Name)
	}
	seen := map[string]bool{}
	for i, srv := range s.Servers {
		if _, err := ParseAddress(srv.Host); err != nil {
			return fmt.Errorf("stage %s: server %d: %w", s.Name, i+1, err)
		}
		if seen[srv.Host] {
			return fmt.Errorf("stage %s: server %s is listed twice", s.Name, srv.Host)
		}
		seen[srv.Host] = true
	}
	return nil
}

// filterServers applies Capistrano's HOSTS and ROLES filters (comma
// separated lists; a server passes when it matches one host and plays one
// role). A filter that leaves no server is an error.
func filterServers(servers []Server, hosts, roles string) ([]Server, error) {
	out := servers
	if hosts = strings.TrimSpace(hosts); hosts != "" {
		want := splitList(hosts)
		out = slices.DeleteFunc(slices.Clone(out), func(s Server) bool {
			return !slices.ContainsFunc(want, s.matches)
		})
		if len(out) == 0 {
			return nil, fmt.Errorf("HOSTS=%s matches no server of the stage; its servers are %s", hosts, serverList(servers))
		}
	}
	if roles = strings.TrimSpace(roles); roles != "" {
		want := splitList(roles)
		out = slices.DeleteFunc(slices.Clone(out), func(s Server) bool {
			return !slices.ContainsFunc(want, s.HasRole)
		})
		if len(out) == 0 {
			return nil, fmt.Errorf("ROLES=%s matches no server of the stage; the roles of its servers are %s", roles, roleList(servers))
		}
	}
	return out, nil
}

// matches reports whether w names s the way HOSTS does: by host name,
// as host:port, as user@host, or as written in the stage.
func (s Server) matches(w string) bool {
	a, _ := ParseAddress(s.Host)
	switch {
	case w == a.Host || w == s.Host:
		return true
	case a.Port != 0 && w == net.JoinHostPort(a.Host, strconv.Itoa(a.Port)):
		return true
	case a.User != "" && w == a.User+"@"+a.Host:
		return true
	}
	return false
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// targetName returns the mage target name of the first function on the
// call stack outside deploylib and its internal packages: "production" for stages.Production,
// "stage:production" for the method Production of a namespace type
// Stage, and "" when that function is not a target (a closure, a test).
func targetName() string {
	pcs := make([]uintptr, 16)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	const (
		api    = "github.com/capstan-deploy/capstan/deploylib." // the package a team calls
		engine = "github.com/capstan-deploy/capstan/deploylib/internal/"
	)
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, api) && !strings.HasPrefix(f.Function, engine) {
			return targetNameOf(f.Function)
		}
		if !more {
			return ""
		}
	}
}

// targetNameOf turns a function's full name (runtime.Frame.Function) into
// its mage target name, or "".
func targetNameOf(fn string) string {
	fn = fn[strings.LastIndex(fn, "/")+1:]
	_, fn, ok := strings.Cut(fn, ".") // drop the package name
	parts := strings.Split(fn, ".")
	if !ok || len(parts) > 2 {
		return ""
	}
	for _, p := range parts {
		if p == "" || !unicode.IsUpper([]rune(p)[0]) || strings.ContainsAny(p, "()*[]") {
			return ""
		}
	}
	return strings.ToLower(strings.Join(parts, ":"))
}
