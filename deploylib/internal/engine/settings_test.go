package engine

import (
	"strings"
	"testing"
)

// TestUnknownSettings: the doctor lists the keys of Config.Settings that
// neither Capstan nor the magefile declared, case-sensitively.
func TestUnknownSettings(t *testing.T) {
	got := unknownSettings(map[string]string{"log_file": "x", "LOG_FILE": "y", "zzzzzzzz": "z"}, capstanSettings)
	want := []string{
		`Settings["LOG_FILE"] is not a setting Capstan knows or the magefile declared with deploylib.DeclareSetting`,
		`Settings["zzzzzzzz"] is not a setting Capstan knows or the magefile declared with deploylib.DeclareSetting`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
