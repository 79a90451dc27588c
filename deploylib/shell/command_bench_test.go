package shell

import "testing"

// The commands a deploy renders most: a simple one, one with a directory
// and environment, and a long chain (the atomic switch).

var benchSink string

func BenchmarkQuoteSafe(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchSink = Quote("/srv/shop/releases/20261125214042")
	}
}

func BenchmarkQuoteUnsafe(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchSink = Quote("Branch main (at 0123456789abcdef) deployed as release 20261125214042 by o'neil")
	}
}

func BenchmarkRenderSimple(b *testing.B) {
	c := New("mkdir", "-p", "/srv/shop/shared", "/srv/shop/releases", "/srv/shop/shared/log")
	b.ReportAllocs()
	for b.Loop() {
		benchSink = c.String()
	}
}

func BenchmarkRenderDirEnvPipe(b *testing.B) {
	c := New("git", "archive", "--format=tar", "0123456789abcdef0123456789abcdef01234567").
		Pipe(New("tar", "-x", "-f", "-", "-C", "/srv/shop/releases/20261125214042")).
		WithEnv("GIT_TERMINAL_PROMPT", "0").
		WithEnv("GIT_ALLOW_PROTOCOL", "file:git:http:https:ssh").
		In("/srv/shop/repo")
	b.ReportAllocs()
	for b.Loop() {
		benchSink = c.String()
	}
}

func switchCommand() Command {
	return New("test", "!", "-d", "/srv/shop/current").
		Or(New("test", "-L", "/srv/shop/current")).
		Or(New("echo", "refusing to replace /srv/shop/current: it is a directory, not a symlink").ToStderr().And(New("false"))).
		And(New("rm", "-rf", "/srv/shop/.capstan/switch-run0001")).
		And(New("mkdir", "-p", "/srv/shop/.capstan/switch-run0001")).
		And(New("ln", "-s", "/srv/shop/releases/20261125214042", "/srv/shop/.capstan/switch-run0001/current")).
		And(New("mv", "/srv/shop/.capstan/switch-run0001/current", "/srv/shop")).
		And(New("rmdir", "/srv/shop/.capstan/switch-run0001")).
		And(New("rm", "-f", "/srv/shop/.capstan/unfinished/20261125214042"))
}

func BenchmarkRenderChain(b *testing.B) {
	c := switchCommand()
	b.ReportAllocs()
	for b.Loop() {
		benchSink = c.String()
	}
}

// BenchmarkBuildAndRenderChain includes building the command value, as the
// deploy's builders do once per task.
func BenchmarkBuildAndRenderChain(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchSink = switchCommand().String()
	}
}
