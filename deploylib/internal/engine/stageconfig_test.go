package engine

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestStageSettings: a stage sets settings, environment and anything else
// of the configuration for itself; the run sees them, the configuration
// passed to Configure does not change.
func TestStageSettings(t *testing.T) {
	t.Parallel()
	base := testConfig()
	base.Settings = map[string]string{"slack_channel": "#deploys", "region": "eu"}
	base.Env = map[string]string{"APP_ENV": "development"}
	d := isolate(t, base)
	st := testStage("deploy@web1")
	st.Settings = map[string]string{"slack_channel": "#prod"}
	st.Env = map[string]string{"APP_ENV": "production"}
	st.Configure = func(c *Config) {
		c.KeepReleases = 10
		c.LinkedFiles = append(c.LinkedFiles, "config/master.key")
		c.Settings["maintenance"] = "on"
	}
	var seen Config
	var channel string
	AfterIn(d, Updated, func(ctx context.Context) error {
		seen = CurrentRun(ctx).Config
		channel = Setting(ctx, "slack_channel", "")
		return nil
	})
	rec, out, err := recorderRun(t, d, st, Deploy, gitRules...)
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	for _, c := range []struct{ what, got, want string }{
		{"Setting(slack_channel)", channel, "#prod"},
		{"Settings[region]", seen.Settings["region"], "eu"},
		{"Settings[maintenance]", seen.Settings["maintenance"], "on"},
		{"Env[APP_ENV]", seen.Env["APP_ENV"], "production"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if seen.KeepReleases != 10 || !slices.Contains(seen.LinkedFiles, "config/master.key") {
		t.Errorf("Configure not applied: KeepReleases %d, LinkedFiles %v", seen.KeepReleases, seen.LinkedFiles)
	}
	if !strings.Contains(transcript(rec), "/srv/shop/shared/config/master.key") {
		t.Errorf("the stage's linked file is not linked:\n%s", transcript(rec))
	}
	if !strings.Contains(transcript(rec), "APP_ENV=production") {
		t.Errorf("the stage's Env is not exported:\n%s", transcript(rec))
	}
	// The configuration passed to Configure is unchanged.
	if c := d.snapshot().config; c.Settings["slack_channel"] != "#deploys" || c.Settings["maintenance"] != "" || len(c.LinkedFiles) != 1 || c.Env["APP_ENV"] != "development" {
		t.Errorf("the stage changed the shared configuration: %+v", c)
	}
}

// TestStageStillEncodes: a Stage with a Configure function still encodes
// as JSON (the fault suite hands stages to child processes that way).
func TestStageStillEncodes(t *testing.T) {
	st := testStage("deploy@web1")
	st.Configure = func(c *Config) { c.KeepReleases = 2 }
	if _, err := json.Marshal(st); err != nil {
		t.Errorf("json.Marshal(Stage): %v", err)
	}
}

// A stage's Configure that changes the health check changes it for its
// own run only: the next run, of another stage, sees the configured one.
func TestStageConfigureCopiesHealthCheck(t *testing.T) {
	t.Parallel()
	base := testConfig()
	base.HealthCheck = &HealthCheck{URL: "http://127.0.0.1:8080/healthz", Command: nil, Retries: 1}
	d := isolate(t, base)
	var seen []HealthCheck
	AfterIn(d, Check, func(ctx context.Context) error {
		seen = append(seen, *CurrentRun(ctx).Config.HealthCheck)
		return nil
	})
	for _, st := range []Stage{
		{Name: "production", Servers: []Server{{Host: "deploy@web1"}}, Configure: func(c *Config) {
			c.HealthCheck.Retries = 9
			c.HealthCheck.URL = "http://127.0.0.1:9090/up"
		}},
		{Name: "staging", Servers: []Server{{Host: "deploy@web1"}}},
	} {
		if _, out, err := recorderRun(t, d, st, Check, gitRules...); err != nil {
			t.Fatalf("%s: %v\n%s", st.Name, err, out)
		}
	}
	if len(seen) != 2 || seen[0].Retries != 9 || seen[1].Retries != 1 || seen[1].URL != "http://127.0.0.1:8080/healthz" {
		t.Errorf("health checks seen: %+v", seen)
	}
	if hc := d.snapshot().config.HealthCheck; hc.Retries != 1 || hc.URL != "http://127.0.0.1:8080/healthz" {
		t.Errorf("the stage changed the configured health check: %+v", *hc)
	}
}
