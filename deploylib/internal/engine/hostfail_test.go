package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestHookErrorShowsHostFailed: a hook that returns its own error on one
// host gets a ✘ line for that host on the console, with the error under it.
func TestHookErrorShowsHostFailed(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	AfterIn(d, Updated, func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			if h.Name() == "web2" {
				return errors.New("migrations pending\nrun ./bin/migrate status")
			}
			return nil
		})
	})
	_, out, err := recorderRun(t, d, testStage("deploy@web1", "deploy@web2"), Deploy, gitRules...)
	if err == nil {
		t.Fatal("deploy succeeded")
	}
	want := "    ✘ deploy@web2\n        migrations pending\n        run ./bin/migrate status\n"
	if !strings.Contains(out, want) {
		t.Errorf("console lacks\n%s\nin\n%s", want, out)
	}
	if strings.Contains(out, "✘ deploy@web1") {
		t.Errorf("web1 did not fail:\n%s", out)
	}
}
