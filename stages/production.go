package stages

import "github.com/capstan-deploy/capstan/deploylib"

// Production selects the live fleet (example servers: replace them with yours).
func Production() {
	deploylib.UseStage(deploylib.Stage{
		Name:   "production",
		Branch: "main",
		Servers: []deploylib.Server{
			{Host: "deploy@web1.example.com", Roles: []string{"app", "web"}, Primary: true},
			{Host: "deploy@web2.example.com", Roles: []string{"app", "web"}},
			{Host: "deploy@db1.example.com:2222", Roles: []string{"db"}, NoRelease: true},
		},
	})
}
