package engine

import (
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/capstan-deploy/capstan/deploylib/internal/script"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Secret is a value that must never be shown: a password, a token, an API
// key. Make one with [NewSecret] or [SecretFromEnv]. Printing it in any way
// (fmt, %v, %#v, JSON, text, slog) gives "[REDACTED]"; only [Secret.Reveal]
// returns the value. Once made, the value (and its URL-escaped and base64
// forms) is also replaced by [REDACTED] in everything Capstan prints or
// logs: the console, the log file, error messages, remote output. Each
// line of a multi-line value (a PEM key, JSON credentials) is redacted on
// its own too, wherever it appears.
//
// To give a secret to a remote command, use [Host.WithSecretEnv]: the value
// travels on the command's standard input, never on its command line, so
// it does not show in ps on the server.
type Secret struct {
	value string
}

// redacted is what a Secret prints as.
const redacted = "[REDACTED]"

// minRedactLen is the shortest value redacted in output: replacing very
// short strings would mangle unrelated text. Shorter secrets are still
// kept off command lines.
const minRedactLen = 4

// minLineRedactLen is the shortest line of a multi-line secret that is
// redacted on its own.
const minLineRedactLen = 16

// NewSecret returns value as a Secret and registers it for redaction.
func NewSecret(value string) Secret {
	registerSecret(value)
	return Secret{value: value}
}

// SecretFromEnv returns the environment variable name as a Secret; it is an
// error if the variable is unset or empty.
func SecretFromEnv(name string) (Secret, error) {
	return secretFromEnv(lookupEnv, name) // env.go
}

// secretFromEnv is [SecretFromEnv] with getenv as the environment.
func secretFromEnv(getenv func(string) string, name string) (Secret, error) {
	v := getenv(name)
	if v == "" {
		return Secret{}, fmt.Errorf("secret %s: the environment variable is unset or empty", name)
	}
	return NewSecret(v), nil
}

// Reveal returns the secret's value. Pass it only to code that needs the
// value itself, never to a command line or a log.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether s holds no value.
func (s Secret) IsZero() bool { return s.value == "" }

// String returns "[REDACTED]".
func (s Secret) String() string { return redacted }

// GoString returns "[REDACTED]", for %#v.
func (s Secret) GoString() string { return redacted }

// Format prints "[REDACTED]" for every verb.
func (s Secret) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }

// MarshalJSON returns "[REDACTED]" as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "[REDACTED]".
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

var (
	secretsMu sync.RWMutex
	secrets   []string // every form of every registered value, longest first
)

// registerSecret adds value, and the forms it commonly takes in output,
// to the values redact replaces.
func registerSecret(value string) {
	if len(value) < minRedactLen {
		return
	}
	forms := []string{
		value,
		url.QueryEscape(value),
		url.PathEscape(value),
		base64.StdEncoding.EncodeToString([]byte(value)),
		base64.RawURLEncoding.EncodeToString([]byte(value)),
		shell.Quote(value),
	}
	// Output is redacted line by line (the console and the log see one
	// line at a time), so every line of a multi-line value (a PEM key,
	// JSON credentials) is a secret of its own.
	// A line shorter than minLineRedactLen carries too little of the
	// secret to matter, and redacting it everywhere would mangle
	// unrelated output ("{", "lines").
	if strings.ContainsAny(value, "\n\r") {
		for _, l := range strings.FieldsFunc(value, func(r rune) bool { return r == '\n' || r == '\r' }) {
			if l = strings.TrimSpace(l); len(l) >= minLineRedactLen {
				forms = append(forms, l)
			}
		}
	}
	secretsMu.Lock()
	defer secretsMu.Unlock()
	for _, f := range forms {
		if len(f) >= minRedactLen && !containsString(secrets, f) {
			secrets = append(secrets, f)
		}
	}
	// Longest first, so a secret containing another is redacted whole.
	sort.SliceStable(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// urlPassword matches the password of a URL's userinfo
// (https://user:password@host), which is redacted whether or not it was
// registered.
var urlPassword = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@`)

// redact replaces every registered secret, and every password written in a
// URL, in s.
func redact(s string) string {
	secretsMu.RLock()
	for _, v := range secrets {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, redacted)
		}
	}
	secretsMu.RUnlock()
	// The expression needs an @ after the first "://": most log lines with
	// a URL (the repository's, in every git command) have none, and are
	// not searched.
	if i := strings.Index(s, "://"); i >= 0 && strings.IndexByte(s[i:], '@') >= 0 {
		s = urlPassword.ReplaceAllString(s, "${1}"+redacted+"@")
	}
	return s
}

// secretVar is one secret environment variable of a Host.
type secretVar struct {
	key   string
	value Secret
}

// WithSecretEnv returns h exporting key=value to its commands without the
// value appearing on any command line: each command reads it from its
// standard input first (IFS= read -r key), so ps on the server shows only
// the variable's name. The value is redacted from all output. It must not
// contain a newline; the command fails if it does.
//
// The exported variable is visible, like any environment variable, in
// /proc/<pid>/environ to the same user and root.
func (h *Host) WithSecretEnv(key string, value Secret) *Host {
	registerSecret(value.value)
	c := *h
	c.parent = h.origin()
	c.secretEnv = make([]secretVar, 0, len(h.secretEnv)+1)
	for _, v := range h.secretEnv {
		if v.key != key {
			c.secretEnv = append(c.secretEnv, v)
		}
	}
	c.secretEnv = append(c.secretEnv, secretVar{key: key, value: value})
	return &c
}

// secretVars returns the secret variables of h's commands: the
// configuration's (Config.SecretEnv, sorted by name), then h's own
// (WithSecretEnv), which win over a configuration's of the same name.
func (h *Host) secretVars() []secretVar {
	return mergeSecretVars(h.run.Config.SecretEnv, h.secretEnv)
}

func mergeSecretVars(config map[string]Secret, own []secretVar) []secretVar {
	if len(config) == 0 {
		return own
	}
	vars := make([]secretVar, 0, len(config)+len(own))
	for _, k := range slices.Sorted(maps.Keys(config)) {
		if !slices.ContainsFunc(own, func(v secretVar) bool { return v.key == k }) {
			vars = append(vars, secretVar{key: k, value: config[k]})
		}
	}
	return append(vars, own...)
}

// withSecretStdin turns c into a script that first reads each secret
// variable from standard input and exports it, then runs c; stdin becomes
// the values, one per line, followed by the command's own input. It also
// returns the script on one line, as the console shows it.
func withSecretStdin(vars []secretVar, c shell.Command, stdin io.Reader) (send shell.Command, display string, in io.Reader, err error) {
	var prefix, values strings.Builder
	names := make([]string, 0, len(vars))
	for _, v := range vars {
		if !shell.ValidEnvKey(v.key) {
			return c, "", stdin, fmt.Errorf("secret environment variable %q is not a valid variable name", v.key)
		}
		if strings.ContainsAny(v.value.value, "\n\r\x00") {
			return c, "", stdin, fmt.Errorf("secret environment variable %s contains a newline or NUL, which cannot be passed on standard input; upload it as a file instead", v.key)
		}
		prefix.WriteString("IFS= read -r " + shell.Quote(v.key) + " && ")
		names = append(names, shell.Quote(v.key))
		values.WriteString(v.value.value + "\n")
	}
	prefix.WriteString("export " + strings.Join(names, " ") + " && {")
	body := c.String()
	in = strings.NewReader(values.String())
	if stdin != nil {
		in = io.MultiReader(in, stdin)
	}
	// The newline before } ends a body that ends in a comment. A script of
	// steps stays one, so that test backends can answer its steps.
	send = shell.Raw(prefix.String() + "\n" + body + "\n}")
	if tok, steps := script.List(c); steps != nil && c.Dir == "" && len(c.Env) == 0 {
		send = script.Within(prefix.String()+"\n", "\n}", tok, steps...)
	}
	return send, prefix.String() + " " + body + " ; }", in, nil
}
