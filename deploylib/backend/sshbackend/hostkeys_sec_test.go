package sshbackend

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/internal/flock"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Two connections of one run, each with the known_hosts it read when it
// dialled, are offered different keys for the same unknown host: one key
// is recorded and accepted, the other refused; the same key offered by
// three connections is recorded once.
func TestAcceptNewRecordsOneKeyPerHost(t *testing.T) {
	file := filepath.Join(t.TempDir(), "known_hosts")
	load := func() *knownHosts {
		kh, err := loadKnownHosts([]string{file}, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		return kh
	}
	// Different keys, both loaded before either was recorded.
	a, b := load(), load()
	keys := []ssh.PublicKey{newPub(t, "ed25519"), newPub(t, "ed25519")}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, kh := range []*knownHosts{a, b} {
		wg.Go(func() {
			var refused atomic.Pointer[HostKeyError]
			errs[i] = kh.callback(&refused)("10.9.9.9:22", fakeAddr{}, keys[i])
		})
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("two different keys for one host: %v and %v; want exactly one accepted", errs[0], errs[1])
	}
	refusedErr := errs[0]
	if refusedErr == nil {
		refusedErr = errs[1]
	}
	if he, ok := refusedErr.(*HostKeyError); !ok || he.Unknown || len(he.Known) != 1 {
		t.Errorf("the second key: %v, want a changed-key *HostKeyError", refusedErr)
	}
	if n := lines(t, file); n != 1 {
		t.Errorf("known_hosts has %d lines, want 1", n)
	}

	// The same key from three connections: one line.
	key := newPub(t, "ecdsa")
	khs := []*knownHosts{load(), load(), load()}
	for i, kh := range khs {
		wg.Go(func() {
			var refused atomic.Pointer[HostKeyError]
			if err := kh.callback(&refused)("10.8.8.8:22", fakeAddr{}, key); err != nil {
				t.Errorf("connection %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if n := lines(t, file); n != 2 {
		t.Errorf("known_hosts has %d lines, want 2:\n%s", n, read(t, file))
	}
}

// Another process recording a key while this one waits for the lock file
// is seen: the record re-reads known_hosts under the lock.
func TestAcceptNewHonoursOtherProcessUnderLock(t *testing.T) {
	file := filepath.Join(t.TempDir(), "known_hosts")
	kh, err := loadKnownHosts([]string{file}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := flock.Lock(file + ".lock") // the other process
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		var refused atomic.Pointer[HostKeyError]
		done <- kh.callback(&refused)("10.7.7.7:2222", fakeAddr{}, newPub(t, "ed25519"))
	}()
	other := knownhosts.Line([]string{"[10.7.7.7]:2222"}, newPub(t, "ed25519")) + "\n"
	if err := os.WriteFile(file, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	unlock()
	if err := <-done; err == nil {
		t.Fatalf("a second key for the host was accepted:\n%s", read(t, file))
	}
	if got := read(t, file); got != other {
		t.Errorf("known_hosts = %q, want only the other process's line", got)
	}
}

// An unparseable line, for any host, is skipped with one warning; the
// other lines still apply, so unknown and changed keys are still refused.
func TestKnownHostsIgnoresBadLines(t *testing.T) {
	good, other := newPub(t, "ed25519"), newPub(t, "ed25519")
	content := strings.Join([]string{
		"# comment",
		"garbage-without-a-key",
		knownhosts.Line([]string{"[10.6.6.6]:2222"}, good),
		"@bogus-marker host ssh-ed25519 AAAA",
		"host.example ssh-ed25519 !!!notbase64!!!",
		"",
	}, "\n")
	file := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	var warnings []string
	logf := func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) }
	for range 2 { // two dials: one warning per line in all
		kh, err := loadKnownHosts([]string{file}, false, logf)
		if err != nil {
			t.Fatalf("loadKnownHosts: %v", err)
		}
		var refused atomic.Pointer[HostKeyError]
		cb := kh.callback(&refused)
		if err := cb("10.6.6.6:2222", fakeAddr{}, good); err != nil {
			t.Errorf("the recorded key: %v", err)
		}
		he, ok := cb("10.6.6.6:2222", fakeAddr{}, other).(*HostKeyError)
		if !ok || he.Unknown || len(he.Known) != 1 || he.Known[0].Filename != file || he.Known[0].Line != 3 {
			t.Errorf("a changed key: %+v, want refused naming %s:3", he, file)
		}
		if he, ok := cb("10.5.5.5:22", fakeAddr{}, good).(*HostKeyError); !ok || !he.Unknown {
			t.Errorf("an unknown host: %v, want refused", he)
		}
	}
	if len(warnings) != 3 {
		t.Fatalf("warnings %q, want one for each of the 3 bad lines", warnings)
	}
	for i, n := range []string{"line 2 ", "line 4 ", "line 5 "} {
		if !strings.Contains(warnings[i], n) || !strings.Contains(warnings[i], file) {
			t.Errorf("warning %q lacks %q", warnings[i], n)
		}
	}
}

func read(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func lines(t *testing.T, file string) int {
	return strings.Count(read(t, file), "\n")
}
