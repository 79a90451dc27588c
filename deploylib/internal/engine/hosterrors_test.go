package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// TestFailureSaysACommandOnce: a long command that fails on six hosts is
// said once in the failure block and once in the error, with every host.
func TestFailureSaysACommandOnce(t *testing.T) {
	t.Parallel()
	d := isolate(t, testConfig())
	long := "./bin/warm-cache --all " + strings.Repeat("--region=eu-west-1 ", 30)
	hosts := []string{"deploy@web1", "deploy@web2", "deploy@web3", "deploy@web4", "deploy@web5", "deploy@web6"}
	warm := d.NewTask("app:warm", "", func(ctx context.Context) error {
		return On(ctx, All(), func(ctx context.Context, h *Host) error {
			return h.ExecuteCommand(ctx, shell.New("sh", "-c", long))
		})
	})
	_, out, err := recorderRun(t, d, testStage(hosts...), warm,
		backend.Rule{Match: "warm-cache", Reply: backend.Reply{Status: 2, Stderr: "cache: no route to redis\n"}})
	if err == nil {
		t.Fatal("app:warm succeeded")
	}
	cmd := "sh -c '" + long + "'"
	if n := strings.Count(err.Error(), cmd); n != 1 {
		t.Errorf("the error says the command %d times, want once:\n%v", n, err)
	}
	for _, want := range []string{strings.Join(hosts, ", ") + ": " + cmd + ": exit status 2", "\n    stderr: cache: no route to redis"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	block := out[strings.Index(out, "** APP:WARM FAILED"):]
	block = block[:strings.Index(block, "** The last")]
	want := "** APP:WARM FAILED\n** task:    app:warm\n** command: " + cmd + "\n** hosts:   " + strings.Join(hosts, ", ") + "\n** status:  exit status 2\n"
	if block != want {
		t.Errorf("failure block:\n%s\nwant\n%s", block, want)
	}
}
