package lab_test

import (
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// TestWriteReleaseInfo deploys to a real sshd host and checks there what
// the hook wrote.
func TestWriteReleaseInfo(t *testing.T) {
	l := lab.Start(t, lab.Options{}) // skipped without sshd or git, failed under CI=true
	h := l.Hosts[0]
	ctx := t.Context()

	// deploy:check wants the linked files in shared/.
	if err := h.Execute(ctx, "install", "-D", "-m", "600", "/dev/null", h.DeployTo+"/shared/config/secrets.yml"); err != nil {
		t.Fatal(err)
	}
	stage := deploylib.Stage{
		Name:     "lab",
		RepoURL:  l.Repo, // the lab's repository: two commits, l.Commits
		DeployTo: h.DeployTo,
		// Only the roles of the hooks under test: a hook whose selector
		// matches no server does nothing.
		Servers: []deploylib.Server{{Host: l.User + "@" + h.Addr, Roles: []string{"web"}}},
		SSH: deploylib.SSHOptions{
			KnownHostsFile: l.KnownHosts,
			KnownHostsOnly: true,
			IdentityFiles:  []string{l.ClientKey},
			ConfigFile:     "none", // not ~/.ssh/config
		},
	}
	err := deploylib.Start(ctx, deploylib.Deploy, deploylib.WithStage(stage),
		deploylib.WithOutput(t.Output()), deploylib.WithLogFile(""))
	if err != nil {
		t.Fatal(err)
	}

	got, err := h.Capture(ctx, "cat", h.DeployTo+"/current/config/release.yml")
	if err != nil {
		t.Fatal(err)
	}
	if want := "revision: " + l.Commits[len(l.Commits)-1]; !strings.Contains(got, want) {
		t.Errorf("config/release.yml on the host:\n%s\nwant the line %q", got, want)
	}
}
