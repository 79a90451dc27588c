package remote

import (
	"fmt"
	"regexp"
	"strconv"
	"unicode/utf8"
)

// Values read from a server (a lock's details, listings, revisions.log)
// are data, never trusted: before one is used in a command or a path it
// must match the grammar of what Capstan itself writes there, or it is
// refused with an error naming the host and the value ([BadValueError]).

var runIDGrammar = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// IsRunID reports whether id is a run id as Capstan writes it into lock
// details, unfinished markers and the names under .capstan/: 1 to 64
// ASCII letters, digits, '_' or '-', starting with a letter or digit. No
// '/', '.', space or control character can appear, so a run id joined to
// a path names one entry of the directory it is joined to.
func IsRunID(id string) bool { return runIDGrammar.MatchString(id) }

// BadValueError reports a value read from a host that does not match the
// grammar it must have before Capstan uses it in a command or a path.
type BadValueError struct {
	// Host is the host that answered; "" when the caller's error names
	// it already.
	Host string
	// What names the value: "the deploy lock's run_id", ...
	What string
	// Value is the value as read (Error shows it sanitised).
	Value string
	// Grammar says what the value must look like.
	Grammar string
}

func (e *BadValueError) Error() string {
	msg := fmt.Sprintf("%s is %s, which is not %s: refusing to use it in a command or a path", e.What, Sanitize(e.Value), e.Grammar)
	if e.Host != "" {
		msg = e.Host + ": " + msg
	}
	return msg
}

// RunIDGrammar describes [IsRunID]'s grammar, for errors.
const RunIDGrammar = "a run id (1 to 64 letters, digits, '_' or '-')"

// CheckRunID returns a [BadValueError] unless id is a run id.
func CheckRunID(host, what, id string) error {
	if IsRunID(id) {
		return nil
	}
	return &BadValueError{Host: host, What: what, Value: id, Grammar: RunIDGrammar}
}

// Sanitize quotes s for an error message: Go-quoted (control characters
// and invalid UTF-8 escaped), and cut to 80 characters.
func Sanitize(s string) string {
	const max = 80
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		return strconv.Quote(string(r[:max])) + "..."
	}
	return strconv.Quote(s)
}
