// Package stages holds the deploy stages converted from Capistrano's
// config/deploy/*.rb, one file each. The magefile imports it with
// //mage:import, so every exported function here is a mage target
// selecting its stage.
package stages

import (
	"github.com/capstan-deploy/capstan/deploylib"
)

// Production selects the stage converted from config/deploy/production.rb: go tool mage production deploy.
func Production() {
	deploylib.UseStage(deploylib.Stage{
		Name:     "production",
		DeployTo: "/srv/prod",
		Servers: []deploylib.Server{
			{Host: "deploy@[2001:db8::1]:2222", Roles: []string{"app"}, Primary: true}, // config/deploy/production.rb:1
		},
	})
}
