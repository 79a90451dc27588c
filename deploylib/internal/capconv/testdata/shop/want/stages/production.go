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
		Name: "production",
		Servers: []deploylib.Server{
			{Host: "deploy@web1.example.com", Roles: []string{"app", "web"}, Primary: true, Properties: map[string]string{"nginx_site": "shop"}}, // config/deploy/production.rb:2
			{Host: "deploy@web2.example.com", Roles: []string{"app", "web"}, Properties: map[string]string{"nginx_site": "shop"}},                // config/deploy/production.rb:3
			{Host: "deploy@db1.example.com:2222", Roles: []string{"db"}},                                                                         // config/deploy/production.rb:4
			{Host: "deploy@worker1.example.com", Roles: []string{"worker"}, Properties: map[string]string{"queue": "default"}},                   // config/deploy/production.rb:6
			{Host: "deploy@worker2.example.com:2200", Roles: []string{"worker"}, Properties: map[string]string{"queue": "default"}},              // config/deploy/production.rb:6
		},
		SSH:              deploylib.SSHOptions{IdentityFiles: []string{"~/.ssh/prod_ed25519"}, KnownHostsFile: "config/known_hosts", KnownHostsOnly: true},
		AppendLinkedDirs: []string{"storage"},
	})
}
