package engine

import "testing"

// A Host answers the questions hooks ask of it from its server: its name,
// its login as the console shows it, its roles and its properties.
func TestHostAccessors(t *testing.T) {
	for _, tc := range []struct {
		server   Server
		name     string
		str      string
		hasRoles []string
		noRoles  []string
		props    map[string]string
	}{
		{
			server:   Server{Host: "deploy@web1.example.com", Roles: []string{"app", "web"}, Properties: map[string]string{"port": "8080"}},
			name:     "web1.example.com",
			str:      "deploy@web1.example.com",
			hasRoles: []string{"app", "web", "all"},
			noRoles:  []string{"db", ""},
			props:    map[string]string{"port": "8080", "missing": ""},
		},
		{
			server:   Server{Host: "db1:2222", Roles: []string{"db"}},
			name:     "db1",
			str:      "db1:2222",
			hasRoles: []string{"db", "all"},
			noRoles:  []string{"app"},
			props:    map[string]string{"port": ""},
		},
		{
			server:  Server{Host: "deploy@[::1]:22"},
			name:    "::1",
			str:     "deploy@::1",
			noRoles: []string{"app"},
		},
		{
			server: Server{Host: "ops@[2001:db8::1]:2200", Roles: []string{"web"}},
			name:   "2001:db8::1",
			str:    "ops@[2001:db8::1]:2200",
		},
	} {
		t.Run(tc.server.Host, func(t *testing.T) {
			a, err := ParseAddress(tc.server.Host)
			if err != nil {
				t.Fatal(err)
			}
			h := &Host{Server: tc.server, Address: a}
			if got := h.Name(); got != tc.name {
				t.Errorf("Name() = %q, want %q", got, tc.name)
			}
			if got := h.String(); got != tc.str {
				t.Errorf("String() = %q, want %q", got, tc.str)
			}
			for _, role := range tc.hasRoles {
				if !h.HasRole(role) {
					t.Errorf("HasRole(%q) = false, want true", role)
				}
			}
			for _, role := range tc.noRoles {
				if h.HasRole(role) {
					t.Errorf("HasRole(%q) = true, want false", role)
				}
			}
			for k, want := range tc.props {
				if got := h.Property(k); got != want {
					t.Errorf("Property(%q) = %q, want %q", k, got, want)
				}
			}
			// Within and WithEnv keep the server.
			if w := h.Within("/tmp").WithEnv("K", "v"); w.Name() != tc.name || w.String() != tc.str || w.Server.Host != tc.server.Host {
				t.Errorf("Within/WithEnv: %q %q %q", w.Name(), w.String(), w.Server.Host)
			}
		})
	}
}
