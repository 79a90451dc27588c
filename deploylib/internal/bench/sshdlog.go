package bench

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
)

// Counts are what one host saw during one deploy.
type Counts struct {
	// Commands are the remote commands, each awaiting its own result:
	// Capstan's from its log file ("Running on" lines), the other tools'
	// the sessions sshd started.
	Commands int
	// Sessions are the SSH sessions sshd started: exec requests (one
	// remote command each, an scp upload included), subsystems (sftp) and
	// shells.
	Sessions int
	// Connections are the logins ("Accepted publickey").
	Connections int
}

// countLog counts the sessions and logins in a piece of an sshd log
// written at LogLevel VERBOSE or more.
func countLog(b []byte) Counts {
	var c Counts
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		switch {
		case bytes.HasPrefix(line, []byte("Starting session: ")):
			c.Sessions++
		case bytes.HasPrefix(line, []byte("Accepted publickey for ")):
			c.Connections++
		}
	}
	return c
}

// logSize returns the size of file, where counting starts for the next
// deploy.
func logSize(file string) (int64, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// countSince counts what file holds after offset.
func countSince(file string, offset int64) (Counts, error) {
	f, err := os.Open(file)
	if err != nil {
		return Counts{}, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return Counts{}, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return Counts{}, fmt.Errorf("reading %s: %w", file, err)
	}
	return countLog(b), nil
}

// capstanRunning matches the log file line of every command Capstan runs:
// "  INFO [1f2e3d4c.001] Running on deploy@web1:22: git ls-remote ...".
var capstanRunning = regexp.MustCompile(`(?m)^\s*[A-Z]+ \[[^\]]*\] Running on (\S+): `)

// capstanScript matches the log file line of a script of steps that
// Capstan sends as one remote command (plan.go); each of its steps has a
// "Running on" line of its own when its task is reported.
var capstanScript = regexp.MustCompile(`(?m)^\s*[A-Z]+ \[[^\]]*\] Sending to (\S+) as one remote command, (\d+) steps`)

// countCapstanLog returns the number of commands Capstan's log file
// records per host: a script of steps counts once.
func countCapstanLog(b []byte) map[string]int {
	n := map[string]int{}
	for _, m := range capstanRunning.FindAllSubmatch(b, -1) {
		n[string(m[1])]++
	}
	for _, m := range capstanScript.FindAllSubmatch(b, -1) {
		steps, _ := strconv.Atoi(string(m[2]))
		n[string(m[1])] += 1 - steps
	}
	return n
}
