package targets

import (
	"context"
	"strings"
	"testing"
)

// TestTargetsRefuseBadArgumentsBeforeRunning: the task and download
// targets refuse what cannot run before any stage is needed or any host
// is asked, saying what to type instead.
func TestTargetsRefuseBadArgumentsBeforeRunning(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func() error
		want []string
	}{
		{"misspelt task", func() error { return Task(ctx, "deploy:new_release_path git:create_relase") },
			[]string{"task: ", `"git:create_relase"`, "did you mean git:create_release?"}},
		{"comma-separated, one unknown", func() error { return Task(ctx, "deploy:check,nosuch:task") },
			[]string{`"nosuch:task"`}},
		{"no task", func() error { return Task(ctx, " ") }, []string{"name a task"}},
		{"download without a file", func() error { return Download(ctx, "", "logs") },
			[]string{"download: give the remote file and the local directory"}},
		{"download without a directory", func() error { return Download(ctx, "log/production.log", "") },
			[]string{"download: give the remote file and the local directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not say %q", err, w)
				}
			}
		})
	}
}
