package stages

import "github.com/capstan-deploy/capstan/deploylib"

// Production selects the live servers.
func Production() {
	deploylib.UseStage(deploylib.Stage{
		Branch: "main",
		Servers: []deploylib.Server{
			{Host: "deploy@web1.acme.com", Roles: []string{"app", "web"}, Primary: true},
			{Host: "deploy@web2.acme.com", Roles: []string{"app", "web"}},
			{Host: "deploy@db1.acme.com:2222", Roles: []string{"db"}},
		},
		AppendLinkedFiles: []string{"config/tls.key"},
	})
}
