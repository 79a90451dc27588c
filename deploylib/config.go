package deploylib

import (
	"context"

	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
)

// Config describes the application being deployed. A team calls
// [Configure] once, from init in its magefile.
type Config = engine.Config

// Setting returns the team setting key from Config.Settings, or def.
func Setting(ctx context.Context, key string, def string) string {
	return engine.Setting(ctx, key, def)
}
