//go:build unix

package sshbackend_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/backend/sshbackend"
	"github.com/capstan-deploy/capstan/deploylib/lab"
	"github.com/capstan-deploy/capstan/deploylib/lab/latency"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// The command shell: commands without standard input share one long-lived
// session (shell.go). These tests compare it with a session per command,
// byte for byte, and count sessions.

// startBoth starts a one-host lab and dials it twice: with the command
// shell, and with a session per command.
func startBoth(t *testing.T) (h *lab.Host, reuse, perCommand *sshbackend.Conn) {
	t.Helper()
	l := lab.Start(t, lab.Options{})
	h = l.Hosts[0]
	cfg := l.SSHConfig(h)
	reuse = dial(t, cfg)
	cfg.SessionPerCommand = true
	perCommand = dial(t, cfg)
	return h, reuse, perCommand
}

// result is what a command did, for comparisons.
type result struct {
	Stdout, Stderr string
	Status         int // 0 for success, -2 for an error that is no *ExitError
	Signal         string
}

func (r result) String() string {
	return fmt.Sprintf("{stdout %q, stderr %q, status %d, signal %q}", r.Stdout, r.Stderr, r.Status, r.Signal)
}

func runResult(t *testing.T, c *sshbackend.Conn, cmd shell.Command) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o, e, err := run(ctx, c, cmd)
	r := result{Stdout: o, Stderr: e}
	var ee *backend.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Status, r.Signal = ee.Status, ee.Signal
	default:
		t.Errorf("%s: %v", cmd, err)
		r.Status = -2
	}
	return r
}

func TestShellOutputIsExact(t *testing.T) {
	t.Parallel()
	_, reuse, perCommand := startBoth(t)
	tests := []struct {
		cmd  shell.Command
		want *result // nil: as with a session per command
	}{
		{cmd: shell.New("true"), want: &result{}},
		{cmd: shell.Raw(`printf 'a\nb'`), want: &result{Stdout: "a\nb"}},
		{cmd: shell.Raw(`printf 'a\nb\n'; printf 'e' >&2`), want: &result{Stdout: "a\nb\n", Stderr: "e"}},
		{cmd: shell.Raw(`printf 'e\n\n' >&2; printf '\n'`), want: &result{Stdout: "\n", Stderr: "e\n\n"}},
		{cmd: shell.Raw(`printf '\000\001\377\r\n\033[31mred'; printf '\376\000' >&2`),
			want: &result{Stdout: "\x00\x01\xff\r\n\x1b[31mred", Stderr: "\xfe\x00"}},
		{cmd: shell.Raw(`printf 'capstan-end:'; printf 'capstan-begin:\n' >&2; exit 4`),
			want: &result{Stdout: "capstan-end:", Stderr: "capstan-begin:\n", Status: 4}},
		{cmd: shell.Raw(`i=0; while [ $i -lt 3000 ]; do echo "line $i"; echo "err $i" >&2; i=$((i+1)); done`)},
		{cmd: shell.Raw(`head -c 300000 /dev/zero | tr '\000' x`), want: &result{Stdout: strings.Repeat("x", 300000)}},
		{cmd: shell.Raw(`echo "$0"; [[ -n x ]] && echo "[[ works"; echo "$SHELL"`)}, // the login shell runs it
		{cmd: shell.Raw(`echo "$GREETING from $(pwd)"`).WithEnv("GREETING", "hi 'there'").In("/"),
			want: &result{Stdout: "hi 'there' from /\n"}},
	}
	for _, tt := range tests {
		got := runResult(t, reuse, tt.cmd)
		want := runResult(t, perCommand, tt.cmd)
		if tt.want != nil && !reflect.DeepEqual(want, *tt.want) {
			t.Errorf("%s, session per command: got %v, want %v", tt.cmd, want, *tt.want)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: command shell %v, session per command %v", tt.cmd, got, want)
		}
	}
	// Counted from Dial, which opens the command shell.
	if n := sshbackend.SessionsOpened(reuse); n != 1 {
		t.Errorf("%d commands opened %d sessions, want 1 (the command shell)", len(tests), n)
	}
}

func TestShellExitStatuses(t *testing.T) {
	t.Parallel()
	_, reuse, perCommand := startBoth(t)
	tests := []struct {
		cmd    string
		status int
		signal string
	}{
		{cmd: "exit 1", status: 1},
		{cmd: "echo partial; exit 255", status: 255},
		{cmd: "exit 137", status: 137},
		{cmd: "capstan-no-such-command", status: 127},
		{cmd: "kill -9 $$", status: 137, signal: "KILL"},
		{cmd: "kill -TERM $$", status: 143, signal: "TERM"},
		{cmd: "kill -HUP $$", status: 129, signal: "HUP"},
		{cmd: "sh -c 'kill -TERM $$'; exit $?", status: 143},
		{cmd: "exit 0"},
	}
	for _, tt := range tests {
		for _, c := range []*sshbackend.Conn{reuse, perCommand} {
			err := c.Run(context.Background(), shell.Raw(tt.cmd), backend.Stdio{})
			// The same from /bin/sh (a command that needs no login shell).
			if perr := c.Run(context.Background(), shell.POSIX(tt.cmd), backend.Stdio{}); fmt.Sprint(perr) != fmt.Sprint(err) {
				t.Errorf("%q: with /bin/sh %v, with the login shell %v", tt.cmd, perr, err)
			}
			var ee *backend.ExitError
			switch {
			case tt.status == 0 && err != nil:
				t.Errorf("%q: %v", tt.cmd, err)
			case tt.status == 0:
			case !errors.As(err, &ee):
				t.Errorf("%q: error %v (%T), want an *ExitError", tt.cmd, err, err)
			case ee.Status != tt.status || ee.Signal != tt.signal:
				t.Errorf("%q: %+v, want status %d signal %q", tt.cmd, *ee, tt.status, tt.signal)
			}
		}
	}
	if n := sshbackend.SessionsOpened(reuse); n != 1 {
		t.Errorf("the command shell conn opened %d sessions, want 1", n)
	}
}

// TestShellRunsPOSIXCommandsWithBinSh: in the command shell, a command
// that needs no login shell (Capstan's own: shell.New, shell.POSIX, a
// script of such steps) runs with /bin/sh, and one that holds a team's or
// operator's shell line (shell.Raw) with the login shell, as sshd runs a
// command; a session of its own always gets the login shell.
func TestShellRunsPOSIXCommandsWithBinSh(t *testing.T) {
	t.Parallel()
	_, reuse, perCommand := startBoth(t)
	login := runResult(t, perCommand, shell.Raw(`echo "$0"`)).Stdout
	if login == "sh\n" {
		t.Fatalf("the lab user's login shell is sh: the test cannot tell the shells apart")
	}
	tests := []struct {
		cmd  shell.Command
		want string
	}{
		{shell.POSIX(`echo "$0"`), "sh\n"},
		{shell.New("true").And(shell.POSIX(`echo "$0"`)).In("/"), "sh\n"},
		{shell.Raw(`echo "$0"`), login},
		{shell.New("true").And(shell.Raw(`echo "$0"`)), login},
		{shell.Script(`echo "$0"`, nil), "sh\n"},
		{shell.Script(`echo "$0"`, nil).ForLoginShell(), login},
	}
	for _, tt := range tests {
		if got := runResult(t, reuse, tt.cmd); got.Stdout != tt.want || got.Status != 0 {
			t.Errorf("%s: %+v, want output %q", tt.cmd, got, tt.want)
		}
		if got := runResult(t, perCommand, tt.cmd); got.Stdout != login {
			t.Errorf("%s in a session of its own: %+v, want the login shell's %q", tt.cmd, got, login)
		}
	}
}

// sshdSessions counts the sessions that h's sshd started.
func sshdSessions(h *lab.Host) int { return strings.Count(h.Log(), "Starting session:") }

func TestShellRunsManyCommandsInOneSession(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	h := l.Hosts[0]
	c := dial(t, l.SSHConfig(h))
	const n = 50
	for i := range n {
		o, e, err := run(context.Background(), c, shell.Raw(fmt.Sprintf("echo %d; echo e%d >&2; cd /; X=%d", i, i, i)))
		if err != nil || o != fmt.Sprintf("%d\n", i) || e != fmt.Sprintf("e%d\n", i) {
			t.Fatalf("command %d: %q, %q, %v", i, o, e, err)
		}
	}
	// Nothing persists from one command to the next.
	o, _, err := run(context.Background(), c, shell.Raw(`echo "$(pwd) [$X] $$"`))
	if err != nil || strings.HasPrefix(o, "/ ") || strings.Contains(o, "[4") {
		t.Errorf("state leaked between commands: %q, %v", o, err)
	}
	o2, _, _ := run(context.Background(), c, shell.Raw(`echo "$(pwd) [$X] $$"`))
	if o2 == o {
		t.Errorf("two commands had the same $$: %q", o)
	}
	got, logged := sshbackend.SessionsOpened(c), sshdSessions(h)
	t.Logf("%d commands: %d sessions opened, sshd started %d", n+2, got, logged)
	if got > 2 || logged > 2 {
		t.Errorf("%d commands opened %d sessions (sshd started %d), want 1 or 2", n+2, got, logged)
	}
}

func TestShellCommandHasNoStdin(t *testing.T) {
	t.Parallel()
	_, _, c := startOne(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	o, _, err := run(ctx, c, shell.Raw(`cat; echo "cat $?"; read x; echo "read $? [$x]"`))
	if err != nil || o != "cat 0\nread 1 []\n" {
		t.Errorf("reading stdin: %q, %v", o, err)
	}
	// The command shell still works: the script was not eaten.
	if o, _, err := run(ctx, c, shell.New("echo", "next")); err != nil || o != "next\n" {
		t.Errorf("next command: %q, %v", o, err)
	}
	// Standard input given: a session of its own.
	before := sshbackend.SessionsOpened(c)
	var out strings.Builder
	err = c.Run(ctx, shell.New("cat"), backend.Stdio{Stdin: strings.NewReader("in\n"), Stdout: &out})
	if err != nil || out.String() != "in\n" || sshbackend.SessionsOpened(c) != before+1 {
		t.Errorf("command with stdin: %q, %v, %d sessions opened", out.String(), err, sshbackend.SessionsOpened(c)-before)
	}
}

// sessionOf returns the session ID of process pid (on this machine): for a
// command in the command shell, the shell's PID.
func sessionOf(pid string) int {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 4 {
		return 0
	}
	sid, _ := strconv.Atoi(f[3])
	return sid
}

func TestShellCancel(t *testing.T) {
	t.Parallel()
	_, _, c := startOne(t)
	if _, _, err := run(context.Background(), c, shell.New("true")); err != nil {
		t.Fatal(err)
	}
	marker := fmt.Sprintf("6%d.%06d", rand.IntN(1000), rand.IntN(1000000))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	var out strings.Builder
	go func() {
		errc <- c.Run(ctx, shell.Raw(fmt.Sprintf("sleep %s | sleep %s; echo finished", marker, marker)), backend.Stdio{Stdout: &out})
	}()
	if !eventually(15*time.Second, func() bool { return len(processes("sleep "+marker)) == 2 }) {
		t.Fatalf("the remote sleeps did not start: %v", processes("sleep "+marker))
	}
	shellPID := sessionOf(processes("sleep " + marker)[0])
	if n := sshbackend.SessionsOpened(c); n != 1 {
		t.Errorf("%d sessions opened, want 1: the command should run in the command shell", n)
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run error %v does not wrap context.Canceled", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15s of the cancel")
	}
	if !eventually(5*time.Second, func() bool {
		return len(processes("sleep "+marker)) == 0 && syscall.Kill(shellPID, 0) != nil
	}) {
		t.Errorf("still running after cancel: sleeps %v, shell %d alive %v",
			processes("sleep "+marker), shellPID, syscall.Kill(shellPID, 0) == nil)
	}
	if strings.Contains(out.String(), "finished") {
		t.Errorf("output %q", out.String())
	}
	for i := range 3 {
		if o, _, err := run(context.Background(), c, shell.New("echo", "ok")); err != nil || o != "ok\n" {
			t.Errorf("run %d after cancel: %q, %v", i, o, err)
		}
	}
	if n := sshbackend.SessionsOpened(c); n > 3 {
		t.Errorf("%d sessions opened, want at most 3 (shell, kill, new shell)", n)
	}
}

func TestShellKilledFromOutside(t *testing.T) {
	t.Parallel()
	_, _, c := startOne(t)
	ctx := context.Background()
	// An idle command shell killed: the next commands work.
	o, _, err := run(ctx, c, shell.Raw(`cut -d' ' -f6 /proc/$$/stat`))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(o))
	if err != nil || pid <= 1 {
		t.Fatalf("shell PID %q: %v", o, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if o, _, err := run(ctx, c, shell.New("echo", "ok")); err != nil || o != "ok\n" {
			t.Fatalf("run %d after the idle shell was killed: %q, %v", i, o, err)
		}
	}
	// A busy one: the command in flight fails, the next one works.
	marker := fmt.Sprintf("2.%06d", rand.IntN(1000000))
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx, shell.Raw("sleep "+marker+"; echo after"), backend.Stdio{}) }()
	var sleeps []string
	if !eventually(15*time.Second, func() bool { sleeps = processes("sleep " + marker); return len(sleeps) == 1 }) {
		t.Fatal("the remote sleep did not start")
	}
	shellPID := sessionOf(sleeps[0])
	if shellPID <= 1 || shellPID == pid {
		t.Fatalf("command shell PID %d (the killed one was %d)", shellPID, pid)
	}
	if err := syscall.Kill(shellPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The orphaned sleep keeps the session's output open: Run fails when
	// it ends.
	select {
	case err := <-errc:
		t.Logf("Run: %v", err)
		var ee *backend.ExitError
		if !errors.As(err, &ee) || ee.Status != -1 || !strings.Contains(err.Error(), "command shell ended") {
			t.Errorf("Run error %v, want an *ExitError with status -1 saying that the command shell ended", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after its shell was killed")
	}
	for i := range 2 {
		if o, _, err := run(ctx, c, shell.New("echo", "ok")); err != nil || o != "ok\n" {
			t.Errorf("run %d after the busy shell was killed: %q, %v", i, o, err)
		}
	}
	if n := sshbackend.SessionsOpened(c); n > 5 {
		t.Errorf("%d sessions opened, want at most 5", n)
	}
}

func TestShellConcurrentRunsKeepTheirOutput(t *testing.T) {
	t.Parallel()
	_, _, c := startOne(t)
	const workers, each = 6, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				want := fmt.Sprintf("w%d-%d", w, i)
				var stdin *strings.Reader
				cmd := shell.Raw(fmt.Sprintf("sleep 0.0%d; echo %s; echo %s >&2", rand.IntN(5), want, want))
				if i%4 == 3 { // now and then, one with standard input
					stdin = strings.NewReader(want + "\n")
					cmd = shell.Raw(fmt.Sprintf("cat; echo %s >&2", want))
				}
				var o, e strings.Builder
				stdio := backend.Stdio{Stdout: &o, Stderr: &e}
				if stdin != nil {
					stdio.Stdin = stdin
				}
				err := c.Run(context.Background(), cmd, stdio)
				if err != nil || o.String() != want+"\n" || e.String() != want+"\n" {
					errs <- fmt.Errorf("%s: %q, %q, %v", want, o.String(), e.String(), err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestShellWithOneSessionSlot(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	cfg := l.SSHConfig(l.Hosts[0])
	cfg.MaxSessions = 1
	c := dial(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := run(ctx, c, shell.New("true")); err != nil {
		t.Fatal(err)
	}
	// The idle command shell holds the only slot: it must give it up.
	var out strings.Builder
	if err := c.Run(ctx, shell.New("cat"), backend.Stdio{Stdin: strings.NewReader("x"), Stdout: &out}); err != nil || out.String() != "x" {
		t.Fatalf("with stdin: %q, %v", out.String(), err)
	}
	// And a busy one too, once its command is done.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			var stdio backend.Stdio
			if i%2 == 1 {
				stdio.Stdin = strings.NewReader("x")
			}
			errs[i] = c.Run(ctx, shell.Raw("sleep 0.2; cat"), stdio)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("run %d: %v", i, err)
		}
	}
}

// latencyConfig puts a latency proxy with a 25 ms one-way delay (50 ms
// round trips) in front of h and returns a configuration that dials it.
func latencyConfig(tb testing.TB, l *lab.Lab, h *lab.Host) sshbackend.Config {
	tb.Helper()
	p, err := latency.Listen(h.Addr, 25*time.Millisecond)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	var known strings.Builder
	for _, k := range h.HostKeys {
		f := strings.Fields(k)
		fmt.Fprintf(&known, "[127.0.0.1]:%d %s %s\n", p.Port(), f[0], f[1])
	}
	kh := filepath.Join(tb.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(known.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	cfg := l.SSHConfig(h)
	cfg.Port = p.Port()
	cfg.KnownHostsFiles = []string{kh}
	return cfg
}

// timeRun runs true on c and returns how long it took.
func timeRun(tb testing.TB, c *sshbackend.Conn) time.Duration {
	tb.Helper()
	start := time.Now()
	if err := c.Run(context.Background(), shell.New("true"), backend.Stdio{}); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

// TestShellSavesARoundTrip compares sequential commands at 50 ms round
// trips with the command shell and with a session per command.
func TestShellSavesARoundTrip(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("timing test")
	}
	t.Parallel()
	l := lab.Start(t, lab.Options{})
	cfg := latencyConfig(t, l, l.Hosts[0])
	reuse := dial(t, cfg)
	cfg.SessionPerCommand = true
	perCommand := dial(t, cfg)
	timeRun(t, reuse) // opens the command shell
	timeRun(t, perCommand)
	// Interleaved, so that a busy moment of the machine costs both alike.
	const n = 20
	var shellTimes, sessionTimes []time.Duration
	for range n {
		shellTimes = append(shellTimes, timeRun(t, reuse))
		sessionTimes = append(sessionTimes, timeRun(t, perCommand))
	}
	slices.Sort(shellTimes)
	slices.Sort(sessionTimes)
	shellMedian, sessionMedian := shellTimes[n/2], sessionTimes[n/2]
	ms := func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
	t.Logf("%d × true at 50 ms RTT, median (min–max): command shell %s (%s–%s), session per command %s (%s–%s)",
		n, ms(shellMedian), ms(shellTimes[0]), ms(shellTimes[n-1]),
		ms(sessionMedian), ms(sessionTimes[0]), ms(sessionTimes[n-1]))
	// About one round trip (50 ms) saved per command; a loose bound, for
	// busy machines.
	if saved := sessionMedian - shellMedian; saved < 20*time.Millisecond {
		t.Errorf("the command shell saves %s per command, want about a round trip (50 ms)", ms(saved))
	}
	if n := sshbackend.SessionsOpened(reuse); n != 1 {
		t.Errorf("%d sessions opened with the command shell, want 1", n)
	}
}

// BenchmarkRunAt50msRTT measures one command (true) at 50 ms round trips:
//
//	go test -run '^$' -bench RunAt50msRTT ./deploylib/backend/sshbackend/
func BenchmarkRunAt50msRTT(b *testing.B) {
	l := lab.Start(b, lab.Options{})
	for _, perCommand := range []bool{false, true} {
		name := "command-shell"
		if perCommand {
			name = "session-per-command"
		}
		b.Run(name, func(b *testing.B) {
			cfg := latencyConfig(b, l, l.Hosts[0])
			cfg.SessionPerCommand = perCommand
			c, err := sshbackend.Dial(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			timeRun(b, c)
			b.ResetTimer()
			for b.Loop() {
				if err := c.Run(context.Background(), shell.New("true"), backend.Stdio{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
