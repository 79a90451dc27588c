package engine

import (
	"context"
	"fmt"
	"sort"
)

// Settings: the free-form Config.Settings that hooks read, the keys a
// magefile declares, and the check for misspelt ones.

// capstanSettings are the Config.Settings keys that Capstan itself reads,
// with their documentation; a Deployment starts with them declared.
var capstanSettings = map[string]string{
	settingLogFile: "where the run's log goes (default log/deploy.log; \"off\" for none)",
}

// unknownSettings reports every key of settings that is not declared,
// with the declared key it most likely misspells.
func unknownSettings(settings, knownSettings map[string]string) []string {
	var out []string
	for k := range settings {
		if _, ok := knownSettings[k]; ok {
			continue
		}
		msg := fmt.Sprintf("Settings[%q] is not a setting Capstan knows or the magefile declared with deploylib.DeclareSetting", k)
		best, bestD := "", 3
		for known := range knownSettings {
			if d := editDistance(k, known); d < bestD || d == bestD && known < best {
				best, bestD = known, d
			}
		}
		if best != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", best)
		}
		out = append(out, msg)
	}
	sort.Strings(out)
	return out
}

// Setting returns the team setting key from Config.Settings, or def.
func Setting(ctx context.Context, key, def string) string {
	var cfg Config
	if r := CurrentRun(ctx); r != nil {
		cfg = r.Config
	} else {
		defaultDeployment.mu.Lock()
		cfg = defaultDeployment.config
		defaultDeployment.mu.Unlock()
	}
	if v, ok := cfg.Settings[key]; ok {
		return v
	}
	return def
}
