package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
)

// TestHealthCheckLocal deploys with a health check on the local stage: a
// passing check keeps the new release; a failing one (a command, then a
// URL) switches current back to the previous release, removes the new
// one, and fails the run saying so.
func TestHealthCheckLocal(t *testing.T) {
	t.Parallel()
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer healthy.Close()
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer sick.Close()

	tests := []struct {
		name    string
		check   HealthCheck
		wantErr string // "" for a check that passes
	}{
		{"command passes", HealthCheck{Command: []string{"test", "-f", "README"}}, ""},
		{"url passes", HealthCheck{URL: healthy.URL + "/healthz", Timeout: 10 * time.Second}, ""},
		{"command fails", HealthCheck{Command: []string{"test", "-f", "HEALTHY"}, Retries: 2, Interval: time.Millisecond},
			"deploy:health_check: health check failed; every host was switched back to its previous release: not healthy after 3 tries: localhost: "},
		{"url fails", HealthCheck{URL: sick.URL + "/healthz", Timeout: 10 * time.Second},
			"health check failed; every host was switched back to its previous release: not healthy after 1 try: localhost: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := newGitRepo(t)
			d := isolate(t, Config{Application: "app"})
			st, err := LocalStage(repo)
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Date(2026, 11, 25, 21, 40, 38, 0, time.UTC)
			if out, err := localRun(t, d, st, Deploy, t0); err != nil {
				t.Fatalf("first deploy: %v\n%s", err, out)
			}
			commit(t, repo, "v2\n")
			check := tt.check
			d.Configure(Config{Application: "app", HealthCheck: &check})
			out, err := localRun(t, d, st, Deploy, t0.Add(4*time.Second))
			r1 := filepath.Join(st.DeployTo, "releases", "20261125214038")
			r2 := filepath.Join(st.DeployTo, "releases", "20261125214042")
			current := readLink(t, filepath.Join(st.DeployTo, "current"))
			if tt.wantErr == "" {
				if err != nil || current != r2 {
					t.Fatalf("deploy with a passing check: %v, current -> %s\n%s", err, current, out)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q\n%s", err, tt.wantErr, out)
			}
			if current != r1 {
				t.Errorf("current -> %s, want the previous release %s", current, r1)
			}
			if _, err := os.Stat(r2); !os.IsNotExist(err) {
				t.Errorf("the unhealthy release is still there: %v", err)
			}
			if !strings.Contains(out, "localhost: switched back to "+r1) {
				t.Errorf("console does not say the host was switched back:\n%s", out)
			}
		})
	}
}

func TestHealthCheckValidation(t *testing.T) {
	for _, hc := range []HealthCheck{{}, {URL: "http://x", Command: []string{"true"}}, {Command: []string{"true"}, Retries: -1}} {
		if err := hc.validate(); err == nil {
			t.Errorf("%+v is valid", hc)
		}
	}
}

// TestInterruptDuringHealthCheckSwitchesBack: Ctrl-C while the check runs
// puts every host back on its previous release: the new one never passed.
func TestInterruptDuringHealthCheckSwitchesBack(t *testing.T) {
	cfg := testConfig()
	cfg.HealthCheck = &HealthCheck{Command: []string{"./bin/healthy"}}
	d := isolate(t, cfg)
	rec, out, err := hookedRun(t, d, testStage("web1", "web2"), Deploy, func(ctx context.Context, host, cmd string) (bool, error) {
		if host == "web2" && strings.Contains(cmd, "./bin/healthy") {
			deliverSignal(syscall.SIGINT)
			<-ctx.Done()
			return true, fmt.Errorf("stopped: %w", ctx.Err())
		}
		return false, nil
	}, append([]backend.Rule{previousRule}, gitRules...)...)
	var ie *InterruptedError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "interrupted during the health check; every host was switched back to its previous release") {
		t.Fatalf("error = %v, want an interrupt that switched back\n%s", err, out)
	}
	for _, h := range []string{"web1", "web2"} {
		if !strings.Contains(out, h+": switched back to /srv/shop/releases/20261125214038") {
			t.Errorf("%s not switched back:\n%s\n%s", h, out, transcript(rec))
		}
	}
}
