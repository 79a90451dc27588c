package engine

import (
	"context"
	"strings"
	"testing"
)

// TestSelectorsAndFiltersSayWhy: a selector that a filter empties warns,
// naming the role and the filter; a filter that selects nothing lists
// what exists; a deploy_to under ~ gets the absolute form suggested.
func TestSelectorsAndFiltersSayWhy(t *testing.T) {
	t.Parallel()
	fleet := Stage{Name: "production", Servers: []Server{
		{Host: "deploy@web1", Roles: []string{"app", "web"}},
		{Host: "deploy@db1:2222", Roles: []string{"db"}},
	}}
	migrate := func(ctx context.Context) error {
		return On(ctx, Primary("db"), func(ctx context.Context, h *Host) error { return h.Execute(ctx, "./bin/migrate") })
	}
	tests := []struct {
		name    string
		hosts   string
		roles   string
		cfg     func(*Config)
		wantOut string // in the console
		wantErr string // in the error, "" for success
	}{
		{name: "primary filtered out", hosts: "web1",
			wantOut: `WARN Primary("db") selects no host: HOSTS=web1 leaves out deploy@db1:2222; what runs on it (main.migrate`},
		{name: "primary kept", hosts: "web1,db1", wantOut: "./bin/migrate"},
		{name: "unknown role", roles: "dbx", wantErr: "ROLES=dbx matches no server of the stage; the roles of its servers are app, db, web"},
		{name: "unknown host", hosts: "web9", wantErr: "HOSTS=web9 matches no server of the stage; its servers are deploy@web1, deploy@db1:2222"},
		{name: "deploy_to under home", cfg: func(c *Config) { c.DeployTo = "~/shop" },
			wantErr: `DeployTo "~/shop" is not an absolute path; ~ is not expanded on the servers: write the absolute path, such as /home/deploy/shop`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			d := isolate(t, cfg)
			setenv(d, "HOSTS", tt.hosts)
			setenv(d, "ROLES", tt.roles)
			team := d.NewTask("main.migrate", "", migrate)
			_, out, err := recorderRun(t, d, fleet, team)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("console lacks %q:\n%s", tt.wantOut, out)
			}
		})
	}
}
