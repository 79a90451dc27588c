// Package stages holds the deploy stages converted from Capistrano's
// config/deploy/*.rb, one file each. The magefile imports it with
// //mage:import, so every exported function here is a mage target
// selecting its stage.
package stages

import (
	"github.com/capstan-deploy/capstan/deploylib"
)

// Not translated (capstan-init -from-capistrano):
//
// TODO(capstan-init): config/deploy/production.rb:4: ssh_options verify_host_key: never: Capstan always checks host keys (record them with ssh-keyscan, or set SSH.AcceptNewHostKeys)
//	set :ssh_options, { user: 'deploy', verify_host_key: :never, proxy: Net::SSH::Proxy::Command.new('ssh bastion -W %h:%p') }
// TODO(capstan-init): config/deploy/production.rb:4: ssh_options :proxy has no translation
//	set :ssh_options, { user: 'deploy', verify_host_key: :never, proxy: Net::SSH::Proxy::Command.new('ssh bastion -W %h:%p') }

// Production selects the stage converted from config/deploy/production.rb: go tool mage production deploy.
func Production() {
	deploylib.UseStage(deploylib.Stage{
		Name: "production",
		Servers: []deploylib.Server{
			{Host: "deploy@app1.example.com", Roles: []string{"app", "web"}},      // config/deploy/production.rb:1
			{Host: "deploy@app2.example.com", Roles: []string{"app", "web"}},      // config/deploy/production.rb:1
			{Host: "deploy@db.example.com", Roles: []string{"db"}, Primary: true}, // config/deploy/production.rb:3
		},
	})
}
