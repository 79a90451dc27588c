//go:build mage

package main

// The hooks of deploy.go, tested against the Recorder backend, which
// records every command and runs nothing: go test -tags mage ./magefiles/

import (
	"context"
	"io"
	"slices"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/backend"
)

// testStage is the fleet of the hook tests; none of it is contacted.
var testStage = deploylib.Stage{
	Name: "test",
	Servers: []deploylib.Server{
		{Host: "deploy@web1", Roles: []string{"app", "web"}, Primary: true},
		{Host: "deploy@db1", Roles: []string{"db"}},
	},
}

func TestHooks(t *testing.T) {
	tests := []struct {
		name string
		hook func(context.Context) error
		want []backend.Record
	}{
		{"showTarget", showTarget, nil},
		{"verifyRelease", verifyRelease, []backend.Record{
			{Host: "deploy@web1", Command: "cd /srv/capstan/current && test -f go.mod -a -f REVISION"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"HOSTS", "ROLES", "DRY_RUN"} {
				t.Setenv(k, "")
			}
			rec := backend.NewRecorder("")
			dial := func(ctx context.Context, s deploylib.Server) (backend.Conn, error) { return rec.ForHost(s.Host), nil }
			err := deploylib.Start(context.Background(), deploylib.NewTask("test:"+tc.name, "runs one hook", tc.hook),
				deploylib.WithStage(testStage), deploylib.WithDialer(dial), deploylib.WithOutput(io.Discard), deploylib.WithLogFile(""))
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if got := rec.Log(); !slices.Equal(got, tc.want) {
				t.Errorf("%s ran\n%q\nwant\n%q", tc.name, got, tc.want)
			}
		})
	}
}
