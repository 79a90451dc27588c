package deploylib_test

import (
	"context"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib"
)

// Staging is a stage target as a team writes it, without Stage.Name.
func Staging(d *deploylib.Deployment) {
	d.UseStage(deploylib.Stage{Servers: []deploylib.Server{{Host: "deploy@staging1"}}})
}

// TestStageNamedAfterTarget: a stage selected from its mage target with
// no Name is named as mage names the target, so the name is written once;
// an explicit Name wins.
func TestStageNamedAfterTarget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		use    func(d *deploylib.Deployment)
		want   string
		errMsg string
	}{
		{name: "from the target", use: Staging, want: "configuration of stage staging\n"},
		{name: "explicit", use: func(d *deploylib.Deployment) {
			d.UseStage(deploylib.Stage{Name: "qa", Servers: []deploylib.Server{{Host: "deploy@qa1"}}})
		}, want: "configuration of stage qa\n"},
		{name: "not from a target", use: func(d *deploylib.Deployment) {
			d.UseStage(deploylib.Stage{Servers: []deploylib.Server{{Host: "deploy@qa1"}}})
		}, errMsg: "stage has no name: set Stage.Name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := deploylib.NewDeployment()
			d.Configure(deploylib.Config{RepoURL: "git@example.com:acme/orders.git", DeployTo: "/srv/orders"})
			tc.use(d)
			var out strings.Builder
			err := d.ShowConfig(context.Background(), deploylib.WithOutput(&out), deploylib.WithColor(false), deploylib.WithLogFile(""))
			if tc.errMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errMsg) {
					t.Fatalf("err = %v, want %q", err, tc.errMsg)
				}
				return
			}
			if err != nil || !strings.HasPrefix(out.String(), tc.want) {
				t.Errorf("err %v, config:\n%s\nwant it to start with %q", err, out.String(), tc.want)
			}
		})
	}
}
