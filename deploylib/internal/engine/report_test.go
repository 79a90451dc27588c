package engine

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
)

// The report after a failure that follows publishing says what each host
// serves, read back from it, not what the run remembers: here web1 was
// published again by another run (after a deploy:unlock) while this run's
// hook after deploy:published was still at work.
func TestHostReportReadsBackCurrent(t *testing.T) {
	t.Parallel()
	const ours, theirs = "/srv/shop/releases/20261125214042", "/srv/shop/releases/20261125999999"
	readBack := func(current string) backend.Rule {
		return backend.Rule{Match: "echo " + currentMarker, Reply: backend.Reply{Stdout: currentMarker + "\n" + current + "\n"}}
	}
	for _, tt := range []struct {
		name  string
		web1  []backend.Rule
		wants []string
		not   []string
	}{
		{"another run published on web1", []backend.Rule{readBack(theirs)},
			[]string{
				"web1: serves " + theirs + " (read back now; this run left it: serves the new release " + ours + "; another run or someone changed it since)",
				"web2: serves the new release " + ours + "\n",
				"HOSTS DISAGREE: they serve " + ours + " and " + theirs,
			},
			[]string{"all hosts serve the same release"}},
		{"web1 cannot say", []backend.Rule{{Match: "echo " + currentMarker, Reply: backend.Reply{Status: 255, Stderr: "connection reset\n"}}},
			[]string{
				"web1: serves the new release " + ours + " (as this run left it; not read back: ",
				"web2: serves the new release " + ours + "\n",
				"all hosts serve the same release",
			}, nil},
		{"both serve this run's release", []backend.Rule{readBack(ours)},
			[]string{"web1: serves the new release " + ours + "\n", "web2: serves the new release " + ours + "\n", "all hosts serve the same release"},
			[]string{"read back"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := isolate(t, testConfig())
			AfterIn(d, Published, func(context.Context) error { return errors.New("restart failed") })
			rules := append([]backend.Rule{previousRule}, gitRules...)
			recs := map[string]*backend.Recorder{
				"web1": backend.NewRecorder("web1", append(tt.web1, rules...)...),
				"web2": backend.NewRecorder("web2", append([]backend.Rule{readBack(ours)}, rules...)...),
			}
			var out bytes.Buffer
			err := d.Start(context.Background(), Deploy, WithStage(testStage("web1", "web2")), WithOutput(&out), WithColor(false), WithLogFile(""),
				func(o *runOptions) { o.runID = "run0001" }, perHostDialer(recs))
			if err == nil || !strings.Contains(err.Error(), "restart failed") {
				t.Fatalf("error = %v\n%s", err, out.String())
			}
			for _, want := range tt.wants {
				if !strings.Contains(out.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, out.String())
				}
			}
			for _, not := range tt.not {
				if strings.Contains(out.String(), not) {
					t.Errorf("report says %q:\n%s", not, out.String())
				}
			}
		})
	}
}
