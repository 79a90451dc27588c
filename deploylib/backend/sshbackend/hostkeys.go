package sshbackend

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/capstan-deploy/capstan/deploylib/internal/flock"
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

// loadKnownHosts reads files; missing files hold no entries. A line that
// cannot be parsed is skipped, as OpenSSH does, with a warning through
// logf (once per process for each such line); the other entries still
// apply, so unknown and changed keys are still refused.
//
// The files are parsed again only when their contents changed since the
// last call for the same files: a run dialing a thousand hosts listed in
// one known_hosts file parses it once, not a thousand times.
func loadKnownHosts(files []string, acceptNew bool, logf func(string, ...any)) (*knownHosts, error) {
	k := &knownHosts{files: files, acceptNew: acceptNew, logf: logf}
	key := strings.Join(files, "\x00")
	if v, ok := parsedKnownHosts.Load(key); ok {
		if p := v.(*parsedFiles); p.unchanged(files) {
			k.check, k.hasCA = p.check, p.hasCA
			return k, nil
		}
	}
	var existing []string
	contents := map[string][]byte{}
	read := make([][]byte, len(files)) // nil: the file does not exist
	for i, f := range files {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sshbackend: known hosts: %w", err)
		}
		if b == nil {
			b = []byte{}
		}
		read[i] = b
		existing = append(existing, f)
		contents[f] = b
		if bytes.Contains(b, []byte("@cert-authority")) {
			k.hasCA = true
		}
	}
	cb, err := newKnownHostsCallback(existing, contents, logf)
	if err != nil {
		return nil, fmt.Errorf("sshbackend: known hosts: %w", err)
	}
	k.check = cb
	parsedKnownHosts.Store(key, &parsedFiles{contents: read, check: cb, hasCA: k.hasCA})
	return k, nil
}

// parsedKnownHosts holds, for each list of known_hosts files (joined by
// NUL), the *parsedFiles last made of them.
var parsedKnownHosts sync.Map

// parsedFiles is a known_hosts database and the contents of the files it
// was parsed from.
type parsedFiles struct {
	contents [][]byte // per file, nil when it did not exist
	check    ssh.HostKeyCallback
	hasCA    bool
}

// compareBufs are the buffers unchanged reads the files into, so that a
// thousand dials do not allocate a copy of the files each.
var compareBufs = sync.Pool{New: func() any { return new([]byte) }}

// unchanged reports whether files hold what p was parsed from, byte for
// byte (a file's size and modification time could stay the same across a
// quick rewrite).
func (p *parsedFiles) unchanged(files []string) bool {
	if len(files) != len(p.contents) {
		return false
	}
	bp := compareBufs.Get().(*[]byte)
	defer compareBufs.Put(bp)
	for i, f := range files {
		want := p.contents[i]
		fh, err := os.Open(f)
		if err != nil {
			if want == nil && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return false
		}
		if want == nil {
			fh.Close()
			return false
		}
		// One byte more than expected, to see that the file ends there.
		if cap(*bp) < len(want)+1 {
			*bp = make([]byte, len(want)+1)
		}
		buf := (*bp)[:len(want)+1]
		n, err := io.ReadFull(fh, buf)
		fh.Close()
		if err != io.ErrUnexpectedEOF && !(err == io.EOF && len(want) == 0) || n != len(want) || !bytes.Equal(buf[:n], want) {
			return false
		}
	}
	return true
}

// badLine matches x/crypto's error for a line of a known_hosts file that
// it cannot parse.
var badLine = regexp.MustCompile(`(?s)^knownhosts: (.*):([0-9]+): (.*)$`)

// warnedLines holds the unparseable known_hosts lines already warned about.
var warnedLines sync.Map

// newKnownHostsCallback is knownhosts.New(files...), except that the lines
// it cannot parse are blanked (in a private copy of the file, so that line
// numbers stay right) and reported through logf instead of failing every
// connection.
func newKnownHostsCallback(files []string, contents map[string][]byte, logf func(string, ...any)) (ssh.HostKeyCallback, error) {
	paths := slices.Clone(files)
	orig := map[string]string{} // private copy -> the file it stands for
	var tmpDir string
	defer func() {
		if tmpDir != "" {
			os.RemoveAll(tmpDir)
		}
	}()
	lines := 0
	for _, b := range contents {
		lines += bytes.Count(b, []byte("\n")) + 1
	}
	for range lines + 1 {
		cb, err := knownhosts.New(paths...)
		if err == nil {
			if len(orig) == 0 {
				return cb, nil
			}
			return renamed(cb, orig), nil
		}
		m := badLine.FindStringSubmatch(err.Error())
		if m == nil {
			return nil, err
		}
		i := slices.Index(paths, m[1])
		n, _ := strconv.Atoi(m[2])
		if i < 0 || n < 1 {
			return nil, err
		}
		file := files[i]
		b := contents[file]
		ls := bytes.SplitAfter(b, []byte("\n"))
		if n > len(ls) {
			return nil, err
		}
		if _, dup := warnedLines.LoadOrStore(fmt.Sprintf("%s:%d:%s", file, n, ls[n-1]), true); !dup && logf != nil {
			logf("skipping line %d of %s, which is not a valid known_hosts line (%s); OpenSSH skips it too", n, file, m[3])
		}
		ls[n-1] = []byte("\n")
		b = bytes.Join(ls, nil)
		contents[file] = b
		if tmpDir == "" {
			if tmpDir, err = os.MkdirTemp("", "capstan-known-hosts-"); err != nil {
				return nil, err
			}
		}
		if paths[i] == file {
			paths[i] = filepath.Join(tmpDir, strconv.Itoa(i))
			orig[paths[i]] = file
		}
		if err := os.WriteFile(paths[i], b, 0o600); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("too many unparseable lines")
}

// renamed wraps cb so that the keys it reports name the known_hosts files
// they come from, not the private copies cb read.
func renamed(cb ssh.HostKeyCallback, orig map[string]string) ssh.HostKeyCallback {
	fix := func(k *knownhosts.KnownKey) {
		if o, ok := orig[k.Filename]; ok {
			k.Filename = o
		}
	}
	return func(addr string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(addr, remote, key)
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &re):
			fix(&re.Revoked)
		case errors.As(err, &ke):
			for i := range ke.Want {
				fix(&ke.Want[i])
			}
		}
		return err
	}
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
		he, err := k.verify(addr, remote, key, k.acceptNew)
		if he != nil {
			refused.Store(he)
			return he
		}
		return err
	}
}

// verify checks key against k, recording it when it is unknown and
// acceptNew is set. A refused key gives a *HostKeyError.
func (k *knownHosts) verify(addr string, remote net.Addr, key ssh.PublicKey, acceptNew bool) (*HostKeyError, error) {
	err := k.check(addr, remote, key)
	if err == nil {
		return nil, nil
	}
	he := &HostKeyError{Addr: addr, KeyType: key.Type(), Fingerprint: ssh.FingerprintSHA256(key), Files: k.files}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		he.Revoked = true
		he.Known = []knownhosts.KnownKey{re.Revoked}
	case errors.As(err, &ke) && len(ke.Want) == 0:
		if acceptNew {
			return k.record(addr, remote, key)
		}
		he.Unknown = true
	case errors.As(err, &ke):
		he.Known = ke.Want
	default:
		return nil, err // a certificate problem, for instance
	}
	return he, nil
}

// recordMu serialises the appends of AcceptNewHostKeys in this process;
// a lock file beside the known_hosts file (flock) serialises them with
// other processes.
var recordMu sync.Mutex

// record appends addr's key to the first known_hosts file, unless the
// file, read again under the lock, now holds a key for addr: the same key
// (another connection of this run, or another process, recorded it) is
// accepted without writing it twice, and a different one is refused as a
// changed key, so that one host never gets two keys accepted.
func (k *knownHosts) record(addr string, remote net.Addr, key ssh.PublicKey) (*HostKeyError, error) {
	if len(k.files) == 0 {
		return nil, fmt.Errorf("AcceptNewHostKeys: no known_hosts file to record the key of %s in", addr)
	}
	file := k.files[0]
	recordMu.Lock()
	defer recordMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, fmt.Errorf("recording host key: %w", err)
	}
	unlock, err := flock.Lock(file + ".lock")
	if err != nil {
		return nil, fmt.Errorf("recording host key: %w", err)
	}
	defer unlock()
	now, err := loadKnownHosts(k.files, false, k.logf)
	if err != nil {
		return nil, fmt.Errorf("recording host key: %w", err)
	}
	if he, err := now.verify(addr, remote, key, false); he == nil || !he.Unknown {
		return he, err
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
	if b, err := os.ReadFile(file); err == nil && len(b) > 0 && b[len(b)-1] != '\n' {
		line = "\n" + line
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("recording host key: %w", err)
	}
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("recording host key: %w", err)
	}
	if k.logf != nil {
		k.logf("recorded new host key of %s in %s: %s %s", knownhosts.Normalize(addr), file, key.Type(), ssh.FingerprintSHA256(key))
	}
	return nil, nil
}
