package deploylib

import (
	"sort"
	"strings"
	"sync"
)

var (
	secretsMu sync.RWMutex
	secrets   []string
)

// Secret registers value as a secret and returns it: from then on it is
// replaced by [REDACTED] everywhere Capstan prints or logs (console, log
// file, error messages). Use it for passwords and tokens that hooks pass
// to commands.
func Secret(value string) string {
	if len(value) < 4 {
		// Redacting very short strings would mangle unrelated output.
		return value
	}
	secretsMu.Lock()
	defer secretsMu.Unlock()
	secrets = append(secrets, value)
	// Longest first, so a secret containing another is redacted whole.
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	return value
}

// redact replaces every registered secret in s.
func redact(s string) string {
	secretsMu.RLock()
	defer secretsMu.RUnlock()
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, "[REDACTED]")
	}
	return s
}
