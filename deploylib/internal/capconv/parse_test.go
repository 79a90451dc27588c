package capconv

import (
	"strings"
	"testing"
)

// TestParseForms: the Ruby forms Capistrano files are written in parse
// into known statements, and one the converter does not read is kept as
// an unknown statement without swallowing the next one.
func TestParseForms(t *testing.T) {
	tests := []struct {
		name, src string
		stmts     int
		unknown   []int // indexes of statements expected unknown
		value     string
	}{
		{"multi-line hash, trailing comma", "set :ssh_options, {\n  forward_agent: true,\n  keys: %w(a b),\n}\n", 1, nil, ""},
		{"multi-line word array", "set :linked_dirs, %w[log\n  tmp/pids]\nset :x, 1\n", 2, nil, ""},
		{"heredoc squiggly", "set :motd, <<~EOS\n  a #{fetch(:x)}\n    b\nEOS\nset :y, 2\n", 2, nil, ""},
		{"heredoc raw", "set :motd, <<-'EOS'\n  a #{x}\n  EOS\n", 1, nil, "  a #{x}\n"},
		{"=begin comment", "=begin\nset :a, 1\n=end\nset :b, 2\n", 1, nil, ""},
		{"task with prerequisites", "task :x => [:a, :b] do\nend\n", 1, nil, ""},
		{"on with options and parameter", "on roles(:app), in: :sequence, wait: 2 do |host|\n  execute :x\nend\n", 1, nil, ""},
		{"line continuation", "execute :echo, \\\n  \"a\"\n", 1, nil, ""},
		{"set with a block", "set(:x) { \"y\" }\n", 1, nil, ""},
		{"string label", "server 'a', \"my-prop\": 'v'\n", 1, nil, ""},
		{"hash rocket", "set :default_env, { 'PATH' => '/x:$PATH', :rails_env => 'p' }\n", 1, nil, ""},
		{"semicolons", "set :a, 1; set :b, 2\n", 2, nil, ""},
		{"unicode and hex escapes", "set :a, \"\\u00e9\\u{1F600}\\x41\"\n", 1, nil, "é😀A"},
		{"unknown inside a block, then known", "x = [1, 2].map { |v| v * 2 }\nset :b, 2\n", 2, nil, ""},
		{"unknown if inside a block, then known", "roles(:web).each do |h|\n  if h.x > 1\n    puts h\n  end\nend\nset :b, 2\n", 2, nil, ""},
		{"unknown operator", "set :a, 1 > 2\nset :b, 2\n", 2, []int{0}, ""},
		{"ternary is unknown", "set :a, x ? 1 : 2\nset :b, 2\n", 2, []int{0}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stmts, err := parseFile("t.rb", tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if len(stmts) != tc.stmts {
				t.Fatalf("%d statements, want %d", len(stmts), tc.stmts)
			}
			for i, s := range stmts {
				want := false
				for _, u := range tc.unknown {
					want = want || u == i
				}
				if (s.unknown != "") != want {
					t.Errorf("statement %d (%q): unknown %q, want unknown %v", i, s.src, s.unknown, want)
				}
			}
			// Nothing the parser gave up on swallowed the last statement.
			if last := stmts[len(stmts)-1]; last.call == nil || last.unknown != "" {
				t.Errorf("the last statement %q was not read: %s", last.src, last.unknown)
			}
			if tc.value != "" {
				c := stmts[0].call
				str, ok := c.args[len(c.args)-1].(*strExpr)
				got := ""
				if ok {
					for _, p := range str.parts {
						got += p.lit
					}
				}
				if got != tc.value {
					t.Errorf("value %q, want %q", got, tc.value)
				}
			}
		})
	}
}

// TestParseLines: statements know their lines, for the notes.
func TestParseLines(t *testing.T) {
	stmts, err := parseFile("t.rb", "# c\nset :a, {\n  b: 1\n}\n\ntask :x do\n  execute :y\nend\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 2 || stmts[0].line != 2 || stmts[0].endLine != 4 || stmts[1].line != 6 {
		t.Fatalf("lines: %+v", stmts)
	}
	if body := stmts[1].call.block.body; len(body) != 1 || body[0].line != 7 || !strings.Contains(body[0].src, "execute :y") {
		t.Errorf("task body: %+v", body)
	}
}
