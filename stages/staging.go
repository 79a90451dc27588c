package stages

import "github.com/capstan-deploy/capstan/deploylib"

// Staging selects the staging server (an example: replace it with yours).
func Staging() {
	deploylib.UseStage(deploylib.Stage{
		Name:   "staging",
		Branch: "main",
		Servers: []deploylib.Server{
			{Host: "deploy@staging.example.com", Roles: []string{"app", "web", "db"}, Primary: true},
		},
	})
}
