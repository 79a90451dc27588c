package engine

import "testing"

// TestCurrentUser: the deploying user comes from the environment that
// each system sets, Windows' USERNAME included.
func TestCurrentUser(t *testing.T) {
	tests := []struct {
		name                    string
		user, logname, username string
		want                    string
	}{
		{"USER", "alice", "bob", "carol", "alice"},
		{"LOGNAME", "", "bob", "carol", "bob"},
		{"Windows USERNAME", "", "", "carol", "carol"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"USER": tc.user, "LOGNAME": tc.logname, "USERNAME": tc.username}
			if got := currentUser(readEnv(func(k string) string { return env[k] })); got != tc.want {
				t.Errorf("currentUser() = %q, want %q", got, tc.want)
			}
		})
	}
}
