// Package remote is the one home of what Capstan runs on the servers: pure
// builders of the standard remote commands over a [Layout] (releases,
// current, shared, repo, revisions.log, the lock, unfinished markers, the
// doctor's probe), and parsers of what those commands print. Nothing here
// does I/O: every builder returns a [shell.Command], so tests check them
// as strings or run them with /bin/sh. The task actions in deploylib
// decide; these build.
package remote
