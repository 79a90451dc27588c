package engine

import "testing"

// This package's test runs log nowhere unless a test asks (WithLogFile,
// CAPSTAN_LOG_FILE): without this, every run would append to
// log/deploy.log in the package directory.
func init() { defaultLogFile = "" }

// TestLogFileDefaultOutsideTests: without the tests' setting above, a run
// logs to log/deploy.log, whatever binary it is in.
func TestLogFileDefaultOutsideTests(t *testing.T) {
	old := defaultLogFile
	defaultLogFile = logFileDefault
	t.Cleanup(func() { defaultLogFile = old })
	if got := logFilePath(nil, Config{}, ""); got != "log/deploy.log" {
		t.Errorf("default log file %q, want log/deploy.log", got)
	}
	if got := logFilePath(nil, Config{Settings: map[string]string{settingLogFile: "off"}}, ""); got != "" {
		t.Errorf("log_file off gives %q, want no log file", got)
	}
}
