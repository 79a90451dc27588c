// Package shell turns commands into the one shell string that a host runs.
//
// A [Command] is a value: a program and its arguments, an optional working
// directory and environment, and optionally further commands chained to it
// with shell operators. [Command.String] renders it with every argument
// passed through [Quote], in a fixed wrapping order (cd, then env, then the
// command), so user input never reaches a shell unquoted. Builders of the
// standard deploy commands are pure functions that return Command values and
// are tested as strings.
package shell
