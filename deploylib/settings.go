package deploylib

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Settings: the free-form Config.Settings that hooks read, the keys a
// magefile declares, and the check for misspelt ones.

var (
	settingsMu sync.Mutex
	// knownSettings are the Config.Settings keys that Capstan reads or a
	// magefile declared, with their documentation.
	knownSettings = map[string]string{
		SettingLogFile: "where the run's log goes (default log/deploy.log; \"off\" for none)",
	}
)

// DeclareSetting declares key as a setting of Config.Settings that the
// team's hooks read with [Setting], so that deploy:check does not report it
// as unknown (a likely typo). Call it from init in the magefile.
func DeclareSetting(key, doc string) {
	settingsMu.Lock()
	defer settingsMu.Unlock()
	knownSettings[key] = doc
}

// unknownSettings reports every key of settings that is not declared,
// with the declared key it most likely misspells.
func unknownSettings(settings map[string]string) []string {
	settingsMu.Lock()
	defer settingsMu.Unlock()
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
	cfg := CurrentConfig()
	if r := CurrentRun(ctx); r != nil {
		cfg = r.Config
	}
	if v, ok := cfg.Settings[key]; ok {
		return v
	}
	return def
}
