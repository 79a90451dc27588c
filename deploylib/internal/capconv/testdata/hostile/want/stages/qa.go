package stages

import (
	"github.com/capstan-deploy/capstan/deploylib"
)

// Qa selects the stage converted from config/deploy/qa.rb: go tool mage qa deploy.
func Qa() {
	deploylib.UseStage(deploylib.Stage{
		Name:   "qa",
		Branch: "feature/$(evil)",
		Servers: []deploylib.Server{
			{Host: "deploy`id`@qa.example.com", Roles: []string{"app", "web", "db"}, Primary: true, Properties: map[string]string{"label": "it's \"q\" $(x)"}}, // config/deploy/qa.rb:1
		},
	})
}
