package deploylib_test

import (
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/internal/enginetest"
)

// TestMain keeps this package's runs from appending to log/deploy.log in
// the package directory.
func TestMain(m *testing.M) { enginetest.MainWithoutLogFile(m) }
