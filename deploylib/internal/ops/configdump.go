package ops

import (
	"context"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
)

// secretKey matches the names of settings and environment variables whose
// values ShowConfig never prints.
var secretKey = regexp.MustCompile(`(?i)pass|secret|token|key|credential|auth|private|cookie|signature`)

// ShowConfig prints the configuration a run of the selected stage would
// use, with the stage's overrides, BRANCH and the HOSTS and ROLES filters
// applied: the application, repository, branch, deploy_to and the other
// settings, the servers with their roles, and the SSH options. Secrets are
// redacted: values made with NewSecret and passwords in URLs everywhere,
// and the values of settings and environment variables whose names look
// secret (TOKEN, PASSWORD, KEY, ...). It is the config target (Deployer's
// config:dump): mage production config.
func ShowConfig(ctx context.Context, opts ...engine.Option) error {
	s, err := engine.OpenSession(opts...)
	if err != nil {
		return err
	}
	defer s.Close()
	s.LogStart("config")
	var b strings.Builder
	writeConfig(&b, s)
	s.Console().Print(b.String())
	s.LogEnd("config", nil)
	return nil
}

// writeConfig writes s's configuration as ShowConfig prints it.
func writeConfig(w io.Writer, s *engine.Session) {
	r := s.Run()
	c := r.Config
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	list := func(s []string) string {
		if len(s) == 0 {
			return "-"
		}
		return strings.Join(s, ", ")
	}
	fmt.Fprintf(w, "configuration of stage %s\n\n", r.Stage.Name)
	row("application", orDash(c.Application))
	row("repo_url", orDash(engine.Redact(c.RepoURL)))
	row("branch", c.Branch)
	row("deploy_to", c.DeployTo)
	row("strategy", engine.StrategyName(c.Strategy)+fmt.Sprintf(" %+v", c.Strategy))
	row("repo_tree", orDash(c.RepoTree))
	row("keep_releases", fmt.Sprint(c.KeepReleases))
	row("linked_files", list(c.LinkedFiles))
	row("linked_dirs", list(c.LinkedDirs))
	row("command_timeout", durationOrNone(c.CommandTimeout))
	if hc := c.HealthCheck; hc != nil {
		d := engine.HealthCheckDefaults(*hc)
		what := "url " + engine.Redact(hc.URL)
		if len(hc.Command) > 0 {
			what = "command " + quoteArgv(hc.Command)
		}
		row("health_check", fmt.Sprintf("%s, retries %d, interval %s, timeout %s", what, d.Retries, d.Interval, d.Timeout))
	} else {
		row("health_check", "-")
	}
	for _, m := range []struct {
		name string
		kv   map[string]string
	}{{"env", c.Env}, {"settings", c.Settings}} {
		if len(m.kv) == 0 {
			row(m.name, "-")
			continue
		}
		for i, k := range slices.Sorted(maps.Keys(m.kv)) {
			name := ""
			if i == 0 {
				name = m.name
			}
			v := engine.Redact(m.kv[k])
			if secretKey.MatchString(k) {
				v = engine.Redacted
			}
			row(name, k+"="+v)
		}
	}
	// SecretEnv: the names only; the values never leave the process but
	// on the standard input of the commands they are for.
	if names := slices.Sorted(maps.Keys(c.SecretEnv)); len(names) > 0 {
		for i, k := range names {
			name := ""
			if i == 0 {
				name = "secret_env"
			}
			row(name, k+"="+engine.Redacted)
		}
	} else {
		row("secret_env", "-")
	}
	tw.Flush()

	fmt.Fprintf(w, "\nservers")
	if f := s.Filter(); f != "" {
		fmt.Fprintf(w, " (%s: %d of %d)", f, len(s.Hosts()), len(r.Stage.Servers))
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  HOST\tROLES\tFLAGS\tPROPERTIES\n")
	for _, h := range s.Hosts() {
		var flags []string
		for _, f := range []struct {
			on   bool
			name string
		}{{h.Server.Primary, "primary"}, {h.Server.NoRelease, "no_release"}, {h.Server.Local, "local"}} {
			if f.on {
				flags = append(flags, f.name)
			}
		}
		var props []string
		for _, k := range slices.Sorted(maps.Keys(h.Server.Properties)) {
			v := engine.Redact(h.Server.Properties[k])
			if secretKey.MatchString(k) {
				v = engine.Redacted
			}
			props = append(props, k+"="+v)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", h.Server.Host, list(h.Server.Roles), list(flags), list(props))
	}
	tw.Flush()

	ssh := r.Stage.SSH
	fmt.Fprintf(w, "\nssh\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  known_hosts_file\t%s\n", orDash(ssh.KnownHostsFile))
	fmt.Fprintf(tw, "  known_hosts_only\t%v\n", ssh.KnownHostsOnly)
	fmt.Fprintf(tw, "  accept_new_host_keys\t%v\n", ssh.AcceptNewHostKeys)
	fmt.Fprintf(tw, "  identity_files\t%s\n", list(ssh.IdentityFiles))
	fmt.Fprintf(tw, "  forward_agent\t%v\n", ssh.ForwardAgent)
	fmt.Fprintf(tw, "  proxy_jump\t%s\n", orDash(ssh.ProxyJump))
	fmt.Fprintf(tw, "  config_file\t%s\n", orDash(ssh.ConfigFile))
	tw.Flush()
}

func durationOrNone(d time.Duration) string {
	if d <= 0 {
		return "none"
	}
	return d.String()
}
