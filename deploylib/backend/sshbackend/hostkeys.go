package sshbackend

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// HostKeyError reports a host key that was refused. No login was attempted.
type HostKeyError struct {
	// Addr is the "host:port" whose key was checked.
	Addr string
	// Unknown is set when no key at all is recorded for the host; otherwise
	// the host presented a key that differs from the recorded ones (or,
	// with Revoked, a key marked @revoked).
	Unknown bool
	// Revoked is set when the key is marked @revoked.
	Revoked bool
	// KeyType and Fingerprint (SHA256) describe the key the host presented.
	KeyType     string
	Fingerprint string
	// Known holds the keys recorded for the host (a changed key) or the
	// revoking entry.
	Known []knownhosts.KnownKey
	// Files are the known_hosts files that were consulted.
	Files []string
}

func (e *HostKeyError) Error() string {
	host, port := splitAddr(e.Addr)
	pattern := knownhosts.Normalize(e.Addr)
	file, files := "~/.ssh/known_hosts", "no known_hosts file"
	if len(e.Files) > 0 {
		file, files = e.Files[0], strings.Join(e.Files, ", ")
	}
	switch {
	case e.Revoked:
		where := ""
		if len(e.Known) > 0 {
			where = fmt.Sprintf(" (%s:%d)", e.Known[0].Filename, e.Known[0].Line)
		}
		return fmt.Sprintf("host key of %s is REVOKED: the server offered %s key %s, which is marked @revoked%s; not logging in",
			pattern, e.KeyType, e.Fingerprint, where)
	case e.Unknown:
		p := ""
		if port != 22 {
			p = fmt.Sprintf("-p %d ", port)
		}
		return fmt.Sprintf("host key of %s is unknown: the server offered %s key %s and %s records no key for it; "+
			"not logging in. Check this fingerprint with the host's administrator "+
			"(on the host: ssh-keygen -lf /etc/ssh/ssh_host_%s_key.pub), then record it with: "+
			"ssh-keyscan %s-t %s %s >> %s (or set AcceptNewHostKeys to record it on the first connection)",
			pattern, e.KeyType, e.Fingerprint, files,
			keyscanType(e.KeyType), p, keyscanType(e.KeyType), shell.Quote(host), shell.Quote(file))
	default:
		var recorded []string
		for _, k := range e.Known {
			recorded = append(recorded, fmt.Sprintf("%s key %s (%s:%d)",
				k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Filename, k.Line))
		}
		if len(e.Known) > 0 {
			file = e.Known[0].Filename
		}
		return fmt.Sprintf("HOST KEY CHANGED for %s: the server offered %s key %s, but %s records %s. "+
			"Someone may be intercepting the connection (man-in-the-middle), or the host was reinstalled; not logging in. "+
			"If the change is expected, remove the old entry with: ssh-keygen -R %s -f %s, then verify and record the new key",
			pattern, e.KeyType, e.Fingerprint, files, strings.Join(recorded, " and "), shell.Quote(pattern), shell.Quote(file))
	}
}

// keyscanType returns the ssh-keyscan -t name of an SSH key type.
func keyscanType(t string) string {
	switch {
	case t == ssh.KeyAlgoED25519:
		return "ed25519"
	case strings.HasPrefix(t, "ecdsa-"):
		return "ecdsa"
	case t == ssh.KeyAlgoRSA:
		return "rsa"
	default:
		return t
	}
}

func splitAddr(addr string) (string, int) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 22
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

// knownHosts is the host key database of one Dial.
type knownHosts struct {
	files     []string // as configured, existing or not
	check     ssh.HostKeyCallback
	hasCA     bool // some file has @cert-authority lines
	acceptNew bool
	logf      func(string, ...any)
}

// loadKnownHosts reads files; missing files hold no entries.
func loadKnownHosts(files []string, acceptNew bool, logf func(string, ...any)) (*knownHosts, error) {
	k := &knownHosts{files: files, acceptNew: acceptNew, logf: logf}
	var existing []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sshbackend: known hosts: %w", err)
		}
		existing = append(existing, f)
		if bytes.Contains(b, []byte("@cert-authority")) {
			k.hasCA = true
		}
	}
	cb, err := knownhosts.New(existing...)
	if err != nil {
		return nil, fmt.Errorf("sshbackend: known hosts: %w", err)
	}
	k.check = cb
	return k, nil
}

// probeKey is a key no host has: checking it against the database lists
// the keys recorded for a host.
var probeKey = sync.OnceValue(func() ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return k
})

// recorded returns the keys recorded for addr ("host:port").
func (k *knownHosts) recorded(addr string) []knownhosts.KnownKey {
	err := k.check(addr, &net.TCPAddr{IP: net.IPv4zero}, probeKey())
	var ke *knownhosts.KeyError
	if errors.As(err, &ke) {
		return ke.Want
	}
	return nil
}

// hostKeyPreference is OpenSSH's order of preference for host key
// algorithms, restricted to those x/crypto supports.
var hostKeyPreference = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256,
	ssh.KeyAlgoECDSA384,
	ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512,
	ssh.KeyAlgoRSASHA256,
	ssh.KeyAlgoRSA,
}

var certPreference = []string{
	ssh.CertAlgoED25519v01,
	ssh.CertAlgoECDSA256v01,
	ssh.CertAlgoECDSA384v01,
	ssh.CertAlgoECDSA521v01,
	ssh.CertAlgoRSASHA512v01,
	ssh.CertAlgoRSASHA256v01,
}

// algorithms returns the host key algorithms to ask addr for: those of the
// keys recorded for it, so that a host with several keys presents one that
// can be checked. A host with no key recorded is asked for OpenSSH's
// favourite (ed25519 first), which is also what ssh-keyscan and ssh record.
func (k *knownHosts) algorithms(addr string) []string {
	want := map[string]bool{}
	for _, key := range k.recorded(addr) {
		if key.Key.Type() == ssh.KeyAlgoRSA {
			want[ssh.KeyAlgoRSASHA512] = true
			want[ssh.KeyAlgoRSASHA256] = true
		}
		want[key.Key.Type()] = true
	}
	var algos []string
	if k.hasCA {
		algos = append(algos, certPreference...)
	}
	if len(want) == 0 {
		return append(algos, slices.DeleteFunc(slices.Clone(hostKeyPreference), func(a string) bool {
			return a == ssh.KeyAlgoRSA
		})...)
	}
	for _, a := range hostKeyPreference {
		if want[a] {
			algos = append(algos, a)
		}
	}
	return algos
}

// callback returns the host key check for one hop. When it refuses a key,
// the *HostKeyError is also stored in refused, because x/crypto does not
// promise to pass it through unchanged.
func (k *knownHosts) callback(refused *atomic.Pointer[HostKeyError]) ssh.HostKeyCallback {
	return func(addr string, remote net.Addr, key ssh.PublicKey) error {
		err := k.check(addr, remote, key)
		if err == nil {
			return nil
		}
		he := &HostKeyError{Addr: addr, KeyType: key.Type(), Fingerprint: ssh.FingerprintSHA256(key), Files: k.files}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &re):
			he.Revoked = true
			he.Known = []knownhosts.KnownKey{re.Revoked}
		case errors.As(err, &ke) && len(ke.Want) == 0:
			if k.acceptNew {
				return k.record(addr, key)
			}
			he.Unknown = true
		case errors.As(err, &ke):
			he.Known = ke.Want
		default:
			return err // a certificate problem, for instance
		}
		refused.Store(he)
		return he
	}
}

// recordMu serialises the appends of AcceptNewHostKeys in this process.
var recordMu sync.Mutex

// record appends addr's key to the first known_hosts file.
func (k *knownHosts) record(addr string, key ssh.PublicKey) error {
	if len(k.files) == 0 {
		return fmt.Errorf("AcceptNewHostKeys: no known_hosts file to record the key of %s in", addr)
	}
	file := k.files[0]
	recordMu.Lock()
	defer recordMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("recording host key: %w", err)
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
	if b, err := os.ReadFile(file); err == nil && len(b) > 0 && b[len(b)-1] != '\n' {
		line = "\n" + line
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("recording host key: %w", err)
	}
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("recording host key: %w", err)
	}
	if k.logf != nil {
		k.logf("recorded new host key of %s in %s: %s %s", knownhosts.Normalize(addr), file, key.Type(), ssh.FingerprintSHA256(key))
	}
	return nil
}
