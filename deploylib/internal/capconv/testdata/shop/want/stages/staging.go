package stages

import (
	"github.com/capstan-deploy/capstan/deploylib"
)

// Staging selects the stage converted from config/deploy/staging.rb: go tool mage staging deploy.
func Staging() {
	deploylib.UseStage(deploylib.Stage{
		Name:         "staging",
		Branch:       "develop",
		KeepReleases: 3,
		Servers: []deploylib.Server{
			{Host: "deploy@staging.example.com", Roles: []string{"app", "web", "db"}, Primary: true}, // config/deploy/staging.rb:1
		},
		SSH: deploylib.SSHOptions{IdentityFiles: []string{"~/.ssh/deploy_ed25519"}, ForwardAgent: true},
		Settings: map[string]string{
			"rails_env": "staging",
		},
	})
}
