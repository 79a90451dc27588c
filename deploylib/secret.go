package deploylib

import (
	"github.com/capstan-deploy/capstan/deploylib/internal/engine"
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
type Secret = engine.Secret

// NewSecret returns value as a Secret and registers it for redaction.
func NewSecret(value string) Secret { return engine.NewSecret(value) }

// SecretFromEnv returns the environment variable name as a Secret; it is an
// error if the variable is unset or empty.
func SecretFromEnv(name string) (Secret, error) { return engine.SecretFromEnv(name) }
