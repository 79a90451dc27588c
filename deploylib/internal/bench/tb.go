package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
)

// benchTB lets code written for tests (lab.Start takes a testing.TB) run
// inside the benchmark, which is not a test. Fatal and Skip panic with a
// value that [withTB] turns back into an error; cleanups run, last first,
// when withTB returns them.
type benchTB struct {
	// The nil interface supplies TB's unexported method. Every exported
	// method is defined below, so it is never called.
	testing.TB

	name string
	out  io.Writer
	ctx  context.Context

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	skipped  bool
	msgs     []string
}

// tbStop is what Fatal and Skip panic with.
type tbStop struct{ skip bool }

// withTB calls fn with a testing.TB and returns its failure or skip as an
// error, with the cleanups fn registered (to run when done with what fn
// made; nil when there are none).
func withTB(ctx context.Context, name string, out io.Writer, fn func(testing.TB)) (cleanup func(), err error) {
	t := &benchTB{name: name, out: out, ctx: ctx}
	func() {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(tbStop); !ok {
					t.runCleanups()
					panic(v)
				}
			}
		}()
		fn(t)
	}()
	t.mu.Lock()
	switch {
	case t.skipped:
		err = fmt.Errorf("%s: %s", name, strings.Join(t.msgs, "; "))
	case t.failed:
		err = fmt.Errorf("%s failed: %s", name, strings.Join(t.msgs, "; "))
	}
	t.mu.Unlock()
	if err != nil {
		t.runCleanups()
		return nil, err
	}
	return t.runCleanups, nil
}

func (t *benchTB) runCleanups() {
	for {
		t.mu.Lock()
		n := len(t.cleanups)
		if n == 0 {
			t.mu.Unlock()
			return
		}
		f := t.cleanups[n-1]
		t.cleanups = t.cleanups[:n-1]
		t.mu.Unlock()
		f()
	}
}

func (t *benchTB) record(failed, skipped bool, msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failed = t.failed || failed
	t.skipped = t.skipped || skipped
	if msg != "" {
		t.msgs = append(t.msgs, msg)
	}
}

func (t *benchTB) Helper()      {}
func (t *benchTB) Name() string { return t.name }
func (t *benchTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}
func (t *benchTB) Log(args ...any) { fmt.Fprintln(t.out, append([]any{t.name + ":"}, args...)...) }
func (t *benchTB) Logf(format string, args ...any) {
	fmt.Fprintf(t.out, t.name+": "+format+"\n", args...)
}
func (t *benchTB) Error(args ...any) { t.record(true, false, fmt.Sprint(args...)) }
func (t *benchTB) Errorf(format string, args ...any) {
	t.record(true, false, fmt.Sprintf(format, args...))
}
func (t *benchTB) Fail()         { t.record(true, false, "") }
func (t *benchTB) FailNow()      { t.record(true, false, ""); panic(tbStop{}) }
func (t *benchTB) Failed() bool  { t.mu.Lock(); defer t.mu.Unlock(); return t.failed }
func (t *benchTB) Skipped() bool { t.mu.Lock(); defer t.mu.Unlock(); return t.skipped }
func (t *benchTB) Fatal(args ...any) {
	t.record(true, false, fmt.Sprint(args...))
	panic(tbStop{})
}
func (t *benchTB) Fatalf(format string, args ...any) {
	t.record(true, false, fmt.Sprintf(format, args...))
	panic(tbStop{})
}
func (t *benchTB) Skip(args ...any) {
	t.record(false, true, fmt.Sprint(args...))
	panic(tbStop{skip: true})
}
func (t *benchTB) Skipf(format string, args ...any) {
	t.record(false, true, fmt.Sprintf(format, args...))
	panic(tbStop{skip: true})
}
func (t *benchTB) SkipNow() { t.record(false, true, ""); panic(tbStop{skip: true}) }
func (t *benchTB) TempDir() string {
	dir, err := os.MkdirTemp("", "capstan-bench-tb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
func (t *benchTB) ArtifactDir() string { return t.TempDir() }
func (t *benchTB) Setenv(key, value string) {
	old, had := os.LookupEnv(key)
	os.Setenv(key, value)
	t.Cleanup(func() {
		if had {
			os.Setenv(key, old)
		} else {
			os.Unsetenv(key)
		}
	})
}
func (t *benchTB) Chdir(dir string) {
	old, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(old) })
}
func (t *benchTB) Attr(key, value string)   {}
func (t *benchTB) Context() context.Context { return t.ctx }
func (t *benchTB) Output() io.Writer        { return t.out }
