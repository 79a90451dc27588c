package console

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock returns a clock that starts at a fixed time and advances by step
// on every call.
func clock(step time.Duration) func() time.Time {
	t := time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC)
	var mu sync.Mutex
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := t
		t = t.Add(step)
		return now
	}
}

type exitErr int

func (e exitErr) Error() string   { return fmt.Sprintf("exit status %d", int(e)) }
func (e exitErr) ExitStatus() int { return int(e) }

// TestExecFormats pins how each kind of command shows on the console and
// in the log, colour off.
func TestExecFormats(t *testing.T) {
	tests := []struct {
		name     string
		verbose  bool
		dry      bool
		kind     Kind
		stdout   string
		stderr   string
		err      error
		status   int
		console  string
		logLines []string
	}{
		{
			name: "execute ok", kind: Execute, stdout: "hello\nworld",
			console:  "      01 echo hi\n      01 deploy@web1 | hello\n      01 deploy@web1 | world\n    ✔ 01 deploy@web1 0.010s\n",
			logLines: []string{"  INFO [r1.001] Running on deploy@web1: echo hi", " DEBUG [r1.001] \tout: hello", " DEBUG [r1.001] \tout: world", "  INFO [r1.001] Finished in 0.010 seconds with exit status 0 (successful)."},
		},
		{
			name: "execute failed", kind: Execute, stderr: "ln: disk on fire\n", err: exitErr(3), status: 3,
			console:  "      01 echo hi\n      01 deploy@web1 | ln: disk on fire\n    ✘ 01 deploy@web1 0.010s\n        ln: disk on fire\n",
			logLines: []string{"  INFO [r1.001] Running on deploy@web1: echo hi", " DEBUG [r1.001] \terr: ln: disk on fire", " ERROR [r1.001] Finished in 0.010 seconds with exit status 3 (failed)."},
		},
		{
			name: "test hidden", kind: Test, err: exitErr(1), status: 1,
			console:  "",
			logLines: []string{" DEBUG [r1.001] Running on deploy@web1: echo hi", " DEBUG [r1.001] Finished in 0.010 seconds with exit status 1 (false)."},
		},
		{
			name: "test verbose", kind: Test, verbose: true, err: exitErr(1), status: 1,
			console: "      01 echo hi\n    ✘ 01 deploy@web1 0.010s\n",
		},
		{
			name: "capture hidden", kind: Capture, stdout: "abc",
			console: "",
		},
		{
			name: "capture failed is shown", kind: Capture, stdout: "abc", stderr: "fatal: no such repo", err: exitErr(128), status: 128,
			console: "      01 echo hi\n    ✘ 01 deploy@web1 0.010s\n        fatal: no such repo\n",
		},
		{
			name: "connection lost", kind: Test, err: errors.New("connection lost"), status: -1,
			console:  "      01 echo hi\n    ✘ 01 deploy@web1 0.010s\n        connection lost\n",
			logLines: []string{" DEBUG [r1.001] Running on deploy@web1: echo hi", " ERROR [r1.001] Finished in 0.010 seconds without an exit status (failed): connection lost"},
		},
		{
			name: "dry execute", kind: Execute, dry: true,
			console:  "      01 echo hi\n    - 01 deploy@web1 not run\n",
			logLines: []string{"  INFO [r1.001] Dry run, not running on deploy@web1: echo hi"},
		},
		{
			name: "dry test", kind: Test, dry: true,
			console: "      01 echo hi\n    - 01 deploy@web1 not run; Test reports true\n",
		},
		{
			name: "dry capture", kind: Capture, dry: true,
			console: "      01 echo hi\n    - 01 deploy@web1 not run; Capture returns \"\"\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, log bytes.Buffer
			c := New(&out, Options{Verbose: tt.verbose, Now: clock(10 * time.Millisecond), Log: &log, RunID: "r1"})
			e := c.Start("deploy@web1", "echo hi", ExecOptions{Kind: tt.kind, DryRun: tt.dry})
			io.WriteString(e.Stdout(), tt.stdout)
			io.WriteString(e.Stderr(), tt.stderr)
			e.End(tt.err, tt.status)
			if out.String() != tt.console {
				t.Errorf("console:\n%s\nwant:\n%s", out.String(), tt.console)
			}
			if tt.logLines != nil {
				if got := strings.TrimRight(log.String(), "\n"); got != strings.Join(tt.logLines, "\n") {
					t.Errorf("log:\n%s\nwant:\n%s", got, strings.Join(tt.logLines, "\n"))
				}
			}
		})
	}
}

// TestNumbering: numbers restart per task; the same command on several
// hosts shares its number and is printed once.
func TestNumbering(t *testing.T) {
	var out bytes.Buffer
	c := New(&out, Options{Now: clock(0)})
	c.Task("deploy:symlink:release")
	for _, h := range []string{"web1", "web2"} {
		c.Start(h, "ln -s a b", ExecOptions{}).End(nil, 0)
	}
	c.Start("web1", "mv b c", ExecOptions{}).End(nil, 0)
	c.Task("deploy:cleanup")
	c.Start("web1", "rm -rf x", ExecOptions{}).End(nil, 0)
	want := `00:00 deploy:symlink:release
      01 ln -s a b
    ✔ 01 web1 0.000s
    ✔ 01 web2 0.000s
      02 mv b c
    ✔ 02 web1 0.000s
00:00 deploy:cleanup
      01 rm -rf x
    ✔ 01 web1 0.000s
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestParallelOutputNeverInterleaves writes output of many hosts at once,
// in pieces that split lines, and checks that every console line is whole.
func TestParallelOutputNeverInterleaves(t *testing.T) {
	var out safeBuffer
	c := New(&out, Options{Now: clock(0)})
	var wg sync.WaitGroup
	const hosts, lines = 8, 200
	for i := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			host := fmt.Sprintf("web%d", i)
			e := c.Start(host, "yes", ExecOptions{})
			line := strings.Repeat(host, 20) + "\n"
			data := strings.Repeat(line, lines)
			for p := data; len(p) > 0; {
				n := min(len(p), 7+i)
				io.WriteString(e.Stdout(), p[:n])
				p = p[n:]
			}
			e.End(nil, 0)
		}()
	}
	wg.Wait()
	count := 0
	for _, l := range strings.Split(out.String(), "\n") {
		host, rest, ok := strings.Cut(strings.TrimPrefix(l, "      01 "), " | ")
		if !ok {
			continue
		}
		count++
		if rest != strings.Repeat(host, 20) {
			t.Fatalf("mixed line: %q", l)
		}
	}
	if count != hosts*lines {
		t.Errorf("%d output lines, want %d", count, hosts*lines)
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestUploadProgress: an upload above a few megabytes shows progress at
// most once a second, then its total; a small one shows nothing.
func TestUploadProgress(t *testing.T) {
	var out, log bytes.Buffer
	c := New(&out, Options{Now: clock(400 * time.Millisecond), Log: &log, RunID: "r1"})
	e := c.Start("web1", "tar -x", ExecOptions{})
	data := io.NewSectionReader(bytes.NewReader(make([]byte, 10<<20)), 0, 10<<20)
	r := e.Upload(data)
	buf := make([]byte, 1<<20)
	for {
		if _, err := r.Read(buf); err != nil {
			break
		}
	}
	e.End(nil, 0)
	got := out.String()
	for _, want := range []string{
		"      01 web1 uploading 4.0 MiB of 10.0 MiB (40%)\n",
		"      01 web1 uploaded 10.0 MiB in ",
		"    ✔ 01 web1 ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("console lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "uploading"); n < 2 || n > 4 {
		t.Errorf("%d progress lines, want at most one a second:\n%s", n, got)
	}
	if !strings.Contains(log.String(), "Sent 10485760 bytes on standard input.") {
		t.Errorf("log lacks the upload size:\n%s", log.String())
	}

	out.Reset()
	e = c.Start("web1", "tar -x", ExecOptions{})
	io.Copy(io.Discard, e.Upload(strings.NewReader("small")))
	e.End(nil, 0)
	if strings.Contains(out.String(), "upload") {
		t.Errorf("a small upload shows progress:\n%s", out.String())
	}
}

func TestAutoColor(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tests := []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, false}, // not a terminal
		{map[string]string{"CAPSTAN_COLOR": "always"}, true},
		{map[string]string{"FORCE_COLOR": "1"}, true},
		{map[string]string{"FORCE_COLOR": "1", "CAPSTAN_COLOR": "never"}, false},
		{map[string]string{"NO_COLOR": "1"}, false},
		{map[string]string{"TERM": "dumb"}, false},
	}
	for _, tt := range tests {
		for _, k := range []string{"CAPSTAN_COLOR", "FORCE_COLOR", "NO_COLOR", "TERM"} {
			t.Setenv(k, tt.env[k])
		}
		if got := AutoColor(f); got != tt.want {
			t.Errorf("AutoColor with %v = %v, want %v", tt.env, got, tt.want)
		}
	}
}

func TestColorOn(t *testing.T) {
	var out bytes.Buffer
	c := New(&out, Options{Color: true, Now: clock(0)})
	c.Task("deploy")
	c.Start("web1", "true", ExecOptions{}).End(nil, 0)
	if !strings.Contains(out.String(), "\x1b[32m✔\x1b[0m") || !strings.Contains(out.String(), "\x1b[34mdeploy\x1b[0m") {
		t.Errorf("no colour:\n%q", out.String())
	}
}

// TestRedactedEverywhere: a secret never reaches the console or the log.
func TestRedactedEverywhere(t *testing.T) {
	var out, log bytes.Buffer
	redact := func(s string) string { return strings.ReplaceAll(s, "hunter2", "[REDACTED]") }
	c := New(&out, Options{Now: clock(0), Log: &log, Redact: redact, Verbose: true})
	c.Task("deploy")
	e := c.Start("web1", "echo hunter2", ExecOptions{})
	io.WriteString(e.Stdout(), "hunter2\n")
	io.WriteString(e.Stderr(), "bad hunter2\n")
	e.End(exitErr(1), 1)
	c.Info("token hunter2")
	c.Failed(Failure{Title: "DEPLOY FAILED", Message: "hunter2"})
	for name, s := range map[string]string{"console": out.String(), "log": log.String()} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("%s holds the secret:\n%s", name, s)
		}
	}
}

// TestFailedBlock pins the DEPLOY FAILED block: what failed, where, how,
// then the last 20 log lines.
func TestFailedBlock(t *testing.T) {
	var out bytes.Buffer
	c := New(&out, Options{Now: clock(0), RunID: "r1"})
	c.LogStart(time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC), "deploy")
	for i := range 25 {
		c.Log("DEBUG", fmt.Sprintf("line %d", i))
	}
	out.Reset()
	c.Failed(Failure{Title: "DEPLOY FAILED", Task: "deploy:symlink:release",
		Commands: []FailedCommand{{Host: "deploy@web2", Command: "mv a b", Status: "exit status 1"}}, LogPath: "log/deploy.log"})
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	head := strings.Join(lines[:6], "\n")
	want := `** DEPLOY FAILED
** task:    deploy:symlink:release
** host:    deploy@web2
** command: mv a b
** status:  exit status 1
** Refer to log/deploy.log for the full log. The last 20 lines:`
	if head != want {
		t.Errorf("block:\n%s\nwant:\n%s", head, want)
	}
	if len(lines) != 26 || lines[6] != " DEBUG [r1] line 5" || lines[25] != " DEBUG [r1] line 24" {
		t.Errorf("log tail:\n%s", strings.Join(lines[6:], "\n"))
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestTruncateToWidth(t *testing.T) {
	var out bytes.Buffer
	c := New(&out, Options{Now: clock(0), Width: 30})
	c.Start("web1", strings.Repeat("x", 100), ExecOptions{DryRun: true}).End(nil, 0)
	first := strings.Split(out.String(), "\n")[0]
	if len([]rune(first)) != 30 || !strings.HasSuffix(first, "…") {
		t.Errorf("not cut to 30 columns: %q", first)
	}
}

// Example shows the console format of a task with one command on two
// hosts, one of which fails.
func Example() {
	t := time.Date(2026, 11, 25, 21, 40, 42, 0, time.UTC)
	c := New(os.Stdout, Options{Now: func() time.Time { return t }})
	c.Task("deploy:symlink:release")
	ok := c.Start("deploy@web1", "mv /srv/shop/releases/current /srv/shop", ExecOptions{})
	bad := c.Start("deploy@web2", "mv /srv/shop/releases/current /srv/shop", ExecOptions{})
	ok.End(nil, 0)
	io.WriteString(bad.Stderr(), "mv: cannot move: Permission denied\n")
	bad.End(exitErr(1), 1)
	// Output:
	// 00:00 deploy:symlink:release
	//       01 mv /srv/shop/releases/current /srv/shop
	//     ✔ 01 deploy@web1 0.000s
	//       01 deploy@web2 | mv: cannot move: Permission denied
	//     ✘ 01 deploy@web2 0.000s
	//         mv: cannot move: Permission denied
}
