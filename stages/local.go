package stages

import (
	"github.com/capstan-deploy/capstan/deploylib"
)

// Local selects the embedded local stage: this repository's HEAD deployed into .deploy/local, no SSH.
func Local() error {
	s, err := deploylib.LocalStage(".")
	if err != nil {
		return err
	}
	deploylib.UseStage(s)
	return nil
}
