package sshbackend

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func newPub(t *testing.T, typ string) ssh.PublicKey {
	t.Helper()
	var pub any
	switch typ {
	case "ed25519":
		pub, _, _ = ed25519.GenerateKey(rand.Reader)
	case "ecdsa":
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub = &k.PublicKey
	case "rsa":
		k, _ := rsa.GenerateKey(rand.Reader, 1024)
		pub = &k.PublicKey
	}
	p, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHostKeyAlgorithms(t *testing.T) {
	ed, ec, rs := newPub(t, "ed25519"), newPub(t, "ecdsa"), newPub(t, "rsa")
	file := filepath.Join(t.TempDir(), "known_hosts")
	lines := []string{
		knownhosts.Line([]string{"[h1]:2222"}, ed),
		knownhosts.Line([]string{"h2"}, rs),
		knownhosts.Line([]string{"h3"}, ec),
		knownhosts.Line([]string{"h3"}, ed),
		knownhosts.Line([]string{knownhosts.HashHostname("h4")}, ed),
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kh, err := loadKnownHosts([]string{file, filepath.Join(t.TempDir(), "missing")}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		want []string
	}{
		{"h1:2222", []string{ssh.KeyAlgoED25519}},
		{"h1:22", []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
			ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}}, // unknown: OpenSSH's order
		{"h2:22", []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}},
		{"h3:22", []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256}},
		{"h4:22", []string{ssh.KeyAlgoED25519}},
	}
	for _, tt := range tests {
		if got := kh.algorithms(tt.addr); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("algorithms(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

func TestHostKeyErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "known_hosts")
	old, new := newPub(t, "ed25519"), newPub(t, "ed25519")
	if err := os.WriteFile(file, []byte(knownhosts.Line([]string{"[web1]:2222"}, old)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kh, err := loadKnownHosts([]string{file}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	remote := fakeAddr{}
	var refused atomic.Pointer[HostKeyError]
	check := kh.callback(&refused)

	if err := check("web1:2222", remote, old); err != nil {
		t.Fatalf("recorded key refused: %v", err)
	}
	err = check("web1:2222", remote, new)
	he, ok := err.(*HostKeyError)
	if !ok || he.Unknown || refused.Load() != he {
		t.Fatalf("changed key: %T %v", err, err)
	}
	for _, want := range []string{"HOST KEY CHANGED", "[web1]:2222", ssh.FingerprintSHA256(new), ssh.FingerprintSHA256(old),
		"ssh-keygen -R '[web1]:2222' -f " + file} {
		if !strings.Contains(he.Error(), want) {
			t.Errorf("changed-key message lacks %q:\n%s", want, he.Error())
		}
	}

	err = check("web2:22", remote, new)
	he, ok = err.(*HostKeyError)
	if !ok || !he.Unknown {
		t.Fatalf("unknown key: %T %v", err, err)
	}
	for _, want := range []string{"unknown", "web2", ssh.FingerprintSHA256(new), "ssh-keyscan -t ed25519 web2 >> " + file, "AcceptNewHostKeys"} {
		if !strings.Contains(he.Error(), want) {
			t.Errorf("unknown-key message lacks %q:\n%s", want, he.Error())
		}
	}
	he.Addr = "web2:2200"
	if !strings.Contains(he.Error(), "ssh-keyscan -p 2200 -t ed25519 web2") {
		t.Errorf("unknown-key message for port 2200 lacks -p:\n%s", he.Error())
	}
}

func TestKnownHostsDefaultFileMissing(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	r, err := Config{Host: "h", SSHConfigFile: "none"}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	kh, err := loadKnownHosts(r.knownHosts, false, nil)
	if err != nil {
		t.Fatalf("missing ~/.ssh/known_hosts: %v", err)
	}
	var refused atomic.Pointer[HostKeyError]
	err = kh.callback(&refused)("h:22", fakeAddr{}, newPub(t, "ed25519"))
	if he, ok := err.(*HostKeyError); !ok || !he.Unknown {
		t.Errorf("got %v, want an unknown host key error", err)
	}
}

func TestAcceptNewRecordsKey(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sub", "known_hosts")
	var logged string
	kh, err := loadKnownHosts([]string{file}, true, func(f string, a ...any) { logged = f })
	if err != nil {
		t.Fatal(err)
	}
	key := newPub(t, "ecdsa")
	var refused atomic.Pointer[HostKeyError]
	if err := kh.callback(&refused)("10.1.1.1:2222", fakeAddr{}, key); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(file)
	if want := knownhosts.Line([]string{"[10.1.1.1]:2222"}, key) + "\n"; string(b) != want {
		t.Errorf("file holds %q, want %q", b, want)
	}
	if logged == "" {
		t.Errorf("nothing logged")
	}
	// A changed key is refused even with AcceptNewHostKeys.
	kh, _ = loadKnownHosts([]string{file}, true, nil)
	err = kh.callback(&refused)("10.1.1.1:2222", fakeAddr{}, newPub(t, "ecdsa"))
	if he, ok := err.(*HostKeyError); !ok || he.Unknown {
		t.Errorf("changed key with AcceptNewHostKeys: %v", err)
	}
}

type fakeAddr struct{}

func (fakeAddr) Network() string { return "tcp" }
func (fakeAddr) String() string  { return "192.0.2.1:22" }

// TestKnownHostsReloadedWhenChanged checks that the parsed known_hosts
// files are reused only while the files are unchanged: a key replaced, a
// file removed or created is seen by the next load.
func TestKnownHostsReloadedWhenChanged(t *testing.T) {
	dir := t.TempDir()
	file, other := filepath.Join(dir, "known_hosts"), filepath.Join(dir, "other")
	a, b := newPub(t, "ed25519"), newPub(t, "ed25519")
	addr := "web1:22"
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}
	write := func(path string, k ssh.PublicKey) {
		t.Helper()
		if err := os.WriteFile(path, []byte(knownhosts.Line([]string{"web1"}, k)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	accepts := func(k ssh.PublicKey) bool {
		t.Helper()
		kh, err := loadKnownHosts([]string{file, other}, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		he, err := kh.verify(addr, remote, k, false)
		return he == nil && err == nil
	}
	write(file, a)
	if !accepts(a) || accepts(b) {
		t.Fatal("key a should be the only one accepted")
	}
	if !accepts(a) {
		t.Fatal("key a refused on the second load")
	}
	before, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	write(file, b) // same size, same inode, and below the same modification time
	if err := os.Chtimes(file, before.ModTime(), before.ModTime()); err != nil {
		t.Fatal(err)
	}
	if accepts(a) || !accepts(b) {
		t.Fatal("after the file changed, key b should be the only one accepted")
	}
	write(other, a) // a file that did not exist appears
	if !accepts(a) {
		t.Fatal("the key of a file created since the last load was not seen")
	}
	if err := os.Remove(other); err != nil {
		t.Fatal(err)
	}
	if accepts(a) {
		t.Fatal("the key of a removed file is still accepted")
	}
}
