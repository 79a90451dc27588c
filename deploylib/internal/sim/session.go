package sim

import (
	"bytes"
	"io"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/capstan-deploy/capstan/deploylib/internal/script"
)

// pid is the process ID the servers report for every command (the client
// needs one only to stop a cancelled command).
const pid = "4242"

// Revision is the commit the emulated repository resolves every branch to.
const Revision = "5a1b2c3d4e5f60718293a4b5c6d7e8f901234567"

// revisionTime is its commit time (unix seconds).
const revisionTime = "1795640000"

// respond emulates cmd: the standard output the deploy flow parses, and
// success. A script of steps (internal/script, the planner's) is answered
// step by step, each followed by its marker on both streams, as a shell
// would.
func respond(cmd string) (stdout, stderr string) {
	if out, errs, ok := script.AnswerText(cmd, respondOne); ok {
		return out, errs
	}
	return respondOne(cmd), ""
}

// respondOne emulates one command.
func respondOne(cmd string) string {
	switch {
	case strings.Contains(cmd, "git ls-remote"):
		return Revision + "\trefs/heads/main\n"
	case strings.Contains(cmd, "echo mirror-exists"):
		// Every host has its mirror, at the revision, as on any deploy
		// but the first.
		return "mirror-exists\nmirror-at " + Revision + "\n"
	case strings.Contains(cmd, "ln -sn lock.d-"):
		// Current's previous target; no other release, none unfinished.
		return "capstan-lock-taken\n/srv/sim/releases/20261101000000\ncapstan-lock-unfinished\n"
	case strings.Contains(cmd, "--format=%H %ct"):
		return Revision + " " + revisionTime + "\n"
	case strings.Contains(cmd, "echo --capstan--"):
		return "--capstan--\n--capstan--\n--capstan--\n" // nothing to clean up
	}
	return ""
}

// handleSession serves one session channel: "exec /bin/sh" (or a shell
// request) is the client's command shell, any other exec request one
// command. Other requests (env, pty-req, signal) are refused.
func (f *Fleet) handleSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	started := false
	done := make(chan struct{})
	for req := range reqs {
		var cmd string
		switch req.Type {
		case "exec":
			var p struct{ Command string }
			if ssh.Unmarshal(req.Payload, &p) != nil {
				req.Reply(false, nil)
				continue
			}
			cmd = p.Command
		case "shell":
			cmd = "exec /bin/sh"
		default:
			req.Reply(false, nil)
			continue
		}
		if started {
			req.Reply(false, nil)
			continue
		}
		started = true
		req.Reply(true, nil)
		go func() {
			defer close(done)
			if cmd == "exec /bin/sh" {
				f.commandShell(ch)
			} else {
				f.exec(ch, cmd)
			}
			ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
			ch.Close()
		}()
	}
	if started {
		<-done
	}
	ch.Close()
}

// exec emulates a session of its own: the PID marker line, if the command
// starts with one (sshbackend's pidMarker), then the command's output once
// its standard input ended.
func (f *Fleet) exec(ch ssh.Channel, cmd string) {
	f.stats.Commands.Add(1)
	var out strings.Builder
	if first, rest, ok := strings.Cut(cmd, "\n"); ok && strings.HasPrefix(first, "echo capstan-pid:") {
		out.WriteString(strings.Replace(strings.TrimPrefix(first, "echo "), "$$", pid, 1) + "\n")
		cmd = rest
	}
	io.Copy(io.Discard, ch) // an upload's tar stream
	stdout, stderr := respond(cmd)
	out.WriteString(stdout)
	io.WriteString(ch, out.String())
	io.WriteString(ch.Stderr(), stderr)
}

// Pieces of sshbackend's command shell script (shell.go, scriptTemplate).
const (
	beginPrefix = `printf '%s%s %s\n' capstan-begin: `
	endPrefix   = `printf '%s%s\n' capstan-end: `
	// The command follows one of these: the login shell's (a team's shell
	// line) or /bin/sh's (Capstan's own scripts).
	cmdPrefix      = `exec "$capstan_sh" -c `
	posixCmdPrefix = `exec /bin/sh -c `
)

// commandShell emulates the command shell: it reads the scripts the
// client writes on standard input and answers each with the begin and end
// lines the client waits for, on both streams, until standard input ends.
// Its buffers are reused from script to script: the fleet shares the
// machine's cores with the client it measures.
func (f *Fleet) commandShell(ch ssh.Channel) {
	buf := make([]byte, 0, 8<<10)
	var out, errs []byte
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, cap(buf))
		}
		n, err := ch.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		done := 0 // bytes of buf answered
		for {
			tok, cmd, rest, ok := nextScript(buf[done:])
			if !ok {
				break
			}
			done = len(buf) - len(rest)
			f.stats.Commands.Add(1)
			stdout, stderr := respond(cmd)
			out = append(append(append(append(append(append(out[:0],
				"capstan-begin:"...), tok...), " "+pid+"\n"...), stdout...), "capstan-end:"...), tok...)
			out = append(out, " 0 -\n"...)
			errs = append(append(append(append(append(append(errs[:0],
				"capstan-begin:"...), tok...), '\n'), stderr...), "capstan-end:"...), tok...)
			errs = append(errs, '\n')
			ch.Write(out)
			ch.Stderr().Write(errs)
		}
		buf = buf[:copy(buf, buf[done:])]
		if err != nil {
			return
		}
	}
}

// nextScript finds the first complete script in buf and returns its
// token, its command (unquoted) and what follows it.
func nextScript(buf []byte) (tok, cmd string, rest []byte, ok bool) {
	i := bytes.Index(buf, []byte(beginPrefix))
	if i < 0 {
		return "", "", buf, false
	}
	s := buf[i+len(beginPrefix):]
	sp := bytes.IndexByte(s, ' ')
	if sp < 0 {
		return "", "", buf, false
	}
	tok = string(s[:sp])
	end := []byte(endPrefix + tok + " >&2\n")
	j := bytes.Index(s, end)
	if j < 0 {
		return "", "", buf, false
	}
	script := s[:j]
	if k := bytes.Index(script, []byte(posixCmdPrefix)); k >= 0 {
		cmd = unquoteWord(script[k+len(posixCmdPrefix):])
	} else if k := bytes.Index(script, []byte(cmdPrefix)); k >= 0 {
		cmd = unquoteWord(script[k+len(cmdPrefix):])
	}
	return tok, cmd, s[j+len(end):], true
}

// unquoteWord reads the first shell word of s: unquoted characters,
// backslash escapes and single-quoted strings, as shell.Quote writes them.
func unquoteWord(s []byte) string {
	var b strings.Builder
	b.Grow(len(s)) // the word is most of s
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n':
			return b.String()
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '\'':
			j := bytes.IndexByte(s[i+1:], '\'')
			if j < 0 {
				b.Write(s[i+1:])
				return b.String()
			}
			b.Write(s[i+1 : i+1+j])
			i += j + 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
