package capconv

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzConvert: whatever config/deploy.rb holds, Convert either reports a
// syntax error (file and line) or writes Go that parses; it never panics
// and never emits Go it could not format. go test -fuzz FuzzConvert runs
// it beyond the seeds (the test projects' files).
func FuzzConvert(f *testing.F) {
	for _, name := range projects {
		for _, rel := range []string{"config/deploy.rb", "lib/capistrano/tasks/notify.rake", "lib/capistrano/tasks/logs.rake"} {
			if b, err := os.ReadFile(filepath.Join("testdata", name, "cap", rel)); err == nil {
				f.Add(string(b))
			}
		}
	}
	f.Add("set :a, \"#{\"")
	f.Add("on roles(:app) do\n within x do\n end")
	f.Fuzz(func(t *testing.T, deployRb string) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "config", "deploy"), 0o755)
		os.WriteFile(filepath.Join(dir, "config", "deploy.rb"), []byte(deployRb), 0o644)
		os.WriteFile(filepath.Join(dir, "config", "deploy", "staging.rb"), []byte("server 'web1', roles: %w{app}\n"), 0o644)
		_, err := Convert(Options{Dir: dir, Module: "example.com/x"})
		var se *SyntaxError
		if err != nil && !errors.As(err, &se) {
			t.Fatalf("%v\ninput:\n%s", err, deployRb)
		}
	})
}
