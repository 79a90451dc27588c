// Package deploylib is Capistrano v3 for Go teams: the standard deploy and
// rollback flows, the task engine that runs them with Before and After
// hooks, stages and servers as Go values, and the Capistrano layout on every
// server.
//
// A team configures its application with [Configure], describes each stage
// with [UseStage] in a stage target, and hangs plain Go functions on any
// standard task with [Before] and [After]:
//
//	deploylib.After(deploylib.Updated, Migrate)
//
// Inside a task or hook, [On] runs a function on the selected hosts (in
// parallel by default, with a barrier at the end), and a [Host] runs
// commands with [Host.Execute], [Host.Test] and [Host.Capture]. Every
// argument of every command passes through one quoting function (package
// shell), and commands reach hosts through a small backend interface
// (package backend): SSH, local, dry-run printer, or a test recorder.
//
// The mage targets that start these flows live in package targets and
// deployns, which a team's magefile pulls in with //mage:import.
//
// This package is the whole API a team uses; the engine behind it lives in
// deploylib/internal/engine, where its types are declared (each type here
// is an alias of one there). Editors show their fields and methods as
// usual; go doc shows them from the engine package:
//
//	go doc github.com/capstan-deploy/capstan/deploylib/internal/engine.Config
//	go doc -all github.com/capstan-deploy/capstan/deploylib/internal/engine.Host
package deploylib
