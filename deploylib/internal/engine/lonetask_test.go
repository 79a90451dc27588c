package engine

import (
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
)

// A standard task that creates a release, run on its own (mage <stage>
// task deploy:updating), keeps DESIGN §3.4's promise as a deploy does: when
// it fails, it removes its own half-built release; when it succeeds, the
// release stays marked unfinished (never published, so never counted by
// cleanup nor targeted by rollback) and the closing line says so.
func TestLoneTaskCreatingARelease(t *testing.T) {
	t.Parallel()
	const release = "/srv/shop/releases/20261125214042"
	tests := []struct {
		name    string
		task    *Task
		fail    string // a command that fails, "" for none
		removed bool   // the release is removed by deploy:failed
	}{
		{name: "deploy:updating succeeds", task: Updating},
		{name: "deploy:updating fails at linked dirs", task: Updating, fail: "ln -s /srv/shop/shared/log", removed: true},
		{name: "deploy:updating fails writing REVISION", task: Updating, fail: "REVISION_TIME", removed: true},
		{name: "deploy:updating fails unpacking the revision", task: Updating, fail: "git archive", removed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := isolate(t, testConfig())
			rules := gitRules
			if tt.fail != "" {
				rules = append([]backend.Rule{{Match: tt.fail, Reply: backend.Reply{Status: 3, Stderr: "disk on fire\n"}}}, gitRules...)
			}
			rec, out, err := recorderRun(t, d, testStage("web1", "web2"), tt.task, rules...)
			if (err != nil) != (tt.fail != "") {
				t.Fatalf("%s: error %v, want failure %v\n%s", tt.task.Name(), err, tt.fail != "", out)
			}
			created, removed := 0, 0
			for _, c := range rec.Log() {
				if strings.Contains(c.Command, "mkdir "+release) {
					created++
				}
				if strings.Contains(c.Command, "= run0001 && exit 0") && strings.Contains(c.Command, "rm -rf "+release) {
					removed++
				}
			}
			if created != 2 {
				t.Fatalf("the release was created on %d hosts, want 2\n%s", created, out)
			}
			if want := map[bool]int{true: 2, false: 0}[tt.removed]; removed != want {
				t.Errorf("the run's own release was removed on %d hosts, want %d\n%s", removed, want, out)
			}
			if tt.fail == "" && !strings.Contains(out, "release 20261125214042 (not published: marked unfinished") {
				t.Errorf("the closing line does not say the release is not published:\n%s", out)
			}
		})
	}
}
