package acceptance_test

import (
	"fmt"
	"os"
	"testing"
)

// TestMain keeps this package's runs from appending to log/deploy.log in
// the package directory: a run reads CAPSTAN_LOG_FILE as a user's would,
// and "off" turns the log file off. A test that checks the log names its
// own file with WithLogFile.
func TestMain(m *testing.M) {
	if err := os.Setenv("CAPSTAN_LOG_FILE", "off"); err != nil {
		fmt.Fprintln(os.Stderr, "setting CAPSTAN_LOG_FILE:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
