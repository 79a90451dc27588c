// Package stages holds the orders service's stages, one file each (what
// config/deploy/*.rb say in the Capistrano version).
package stages

import "github.com/capstan-deploy/capstan/deploylib"

// Staging selects the three staging servers; the first also runs the migrations.
func Staging() {
	deploylib.UseStage(deploylib.Stage{
		Branch: "develop",
		Servers: []deploylib.Server{
			{Host: "deploy@staging1.acme.internal", Roles: []string{"app", "web", "db"}, Primary: true},
			{Host: "deploy@staging2.acme.internal", Roles: []string{"app", "web"}},
			{Host: "deploy@staging3.acme.internal", Roles: []string{"app", "web"}},
		},
		KeepReleases:     3,
		Settings:         map[string]string{"systemd_unit": "orders-staging"},
		AppendLinkedDirs: []string{"tmp/uploads"},
	})
}
