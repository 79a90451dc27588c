package engine

import (
	"maps"
	"slices"
)

// configure applies the stage's Settings, Env, SecretEnv, KeepReleases,
// appended linked paths and Configure (in that order) to c, a copy of the
// configuration: the maps, slices and the health check are copied first,
// so that a stage's Configure (or a hook reading the run's Config) cannot
// change the configuration other runs see.
func (s Stage) configure(c Config) Config {
	if hc := c.HealthCheck; hc != nil {
		copied := *hc
		copied.Command = slices.Clone(hc.Command)
		c.HealthCheck = &copied
	}
	if len(s.Settings) == 0 && len(s.Env) == 0 && len(s.SecretEnv) == 0 && s.Configure == nil &&
		s.KeepReleases <= 0 && len(s.AppendLinkedFiles) == 0 && len(s.AppendLinkedDirs) == 0 {
		return c
	}
	c.Settings = maps.Clone(c.Settings)
	c.Env = maps.Clone(c.Env)
	c.SecretEnv = maps.Clone(c.SecretEnv)
	c.LinkedFiles = slices.Clone(c.LinkedFiles)
	c.LinkedDirs = slices.Clone(c.LinkedDirs)
	if len(s.Settings) > 0 && c.Settings == nil {
		c.Settings = map[string]string{}
	}
	maps.Copy(c.Settings, s.Settings)
	if len(s.Env) > 0 && c.Env == nil {
		c.Env = map[string]string{}
	}
	maps.Copy(c.Env, s.Env)
	if len(s.SecretEnv) > 0 && c.SecretEnv == nil {
		c.SecretEnv = map[string]Secret{}
	}
	maps.Copy(c.SecretEnv, s.SecretEnv)
	if s.KeepReleases > 0 {
		c.KeepReleases = s.KeepReleases
	}
	c.LinkedFiles = append(c.LinkedFiles, s.AppendLinkedFiles...)
	c.LinkedDirs = append(c.LinkedDirs, s.AppendLinkedDirs...)
	if s.Configure != nil {
		s.Configure(&c)
	}
	return c
}
