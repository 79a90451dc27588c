package backend

import (
	"bufio"
	"context"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/capstan-deploy/capstan/deploylib/internal/script"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Reply is what a [Recorder] answers for a command.
type Reply struct {
	Stdout string
	Stderr string
	// Status is the exit status; non-zero makes Run return an *ExitError.
	Status int
}

// Rule answers the commands whose rendered string contains Match.
type Rule struct {
	Match string
	Reply Reply
}

// Recorder is the test backend: it records every command it is asked to run
// and answers from its rules (the first rule whose Match is a substring of
// the rendered command wins; no match means success with no output). One
// Recorder may be shared by several hosts; Log keeps them apart. A script
// of steps (internal/script) is recorded as one command and answered step by
// step, each step by the rules, with the markers a shell would print,
// stopping where a step fails or its gate does.
type Recorder struct {
	Host  string
	Rules []Rule

	mu  *sync.Mutex
	log *[]Record
}

// Record is one command a Recorder saw.
type Record struct {
	Host    string
	Command string
	// Stdin is what the command was fed, if anything: for a script that
	// awaits a go-ahead, what it read up to its go-ahead or stop line.
	Stdin string
}

// NewRecorder returns a Recorder for host that appends to a fresh log.
func NewRecorder(host string, rules ...Rule) *Recorder {
	return &Recorder{Host: host, Rules: rules, mu: new(sync.Mutex), log: new([]Record)}
}

// ForHost returns a Recorder for another host sharing r's rules and log.
func (r *Recorder) ForHost(host string) *Recorder {
	return &Recorder{Host: host, Rules: r.Rules, mu: r.mu, log: r.log}
}

// Run implements [Conn].
func (r *Recorder) Run(ctx context.Context, cmd shell.Command, stdio Stdio) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := cmd.String()
	rec := Record{Host: r.Host, Command: s}
	tok, steps := script.List(cmd)
	var in *bufio.Reader // a script that awaits a go-ahead reads it as it goes
	switch {
	case stdio.Stdin != nil && slices.ContainsFunc(steps, func(st script.Step) bool { return st.Await }):
		// Record holds what the script read: its go-ahead may come only
		// once other hosts answered, and its input may never end.
		in = bufio.NewReader(stdio.Stdin)
	case stdio.Stdin != nil:
		b, _ := io.ReadAll(stdio.Stdin)
		rec.Stdin = string(b)
	}
	r.mu.Lock()
	*r.log = append(*r.log, rec)
	at := len(*r.log) - 1
	r.mu.Unlock()
	if steps != nil {
		// A script of steps (internal/script) is one command, answered step
		// by step as a shell would: each step's reply, then its marker,
		// until a step fails, its gate stops it, or a step awaits a
		// go-ahead that is not given.
		for i, step := range steps {
			if step.Await && !r.goAhead(in, tok, at) {
				if stdio.Stdout != nil {
					io.WriteString(stdio.Stdout, script.Marker(tok, 0, 0))
				}
				return nil
			}
			rep := r.reply(step.Cmd.String())
			if err := answer(Reply{Stdout: rep.Stdout, Stderr: rep.Stderr}, stdio); err != nil {
				return err
			}
			marker := script.Marker(tok, i+1, rep.Status)
			if stdio.Stdout != nil {
				io.WriteString(stdio.Stdout, marker)
			}
			if stdio.Stderr != nil {
				io.WriteString(stdio.Stderr, marker)
			}
			if rep.Status != 0 {
				return &ExitError{Status: rep.Status}
			}
			if !step.Gate.Passes(rep.Stdout) {
				if stdio.Stdout != nil {
					io.WriteString(stdio.Stdout, script.Marker(tok, 0, 0))
				}
				return nil
			}
		}
		return nil
	}
	return answer(r.reply(s), stdio)
}

// goAhead reads the lines fed to a script of tok up to its go-ahead or
// stop line (those before it are values the script reads first, as
// secret environment values), recording them with the script's command
// (the log's entry at), and reports whether it may go on.
func (r *Recorder) goAhead(in *bufio.Reader, tok string, at int) bool {
	if in == nil {
		return false
	}
	for {
		line, err := in.ReadString('\n')
		r.mu.Lock()
		(*r.log)[at].Stdin += line
		r.mu.Unlock()
		switch strings.TrimSuffix(line, "\n") {
		case script.GoLine(tok):
			return true
		case script.StopLine(tok):
			return false
		}
		if err != nil {
			return false
		}
	}
}

// reply returns the reply of the first rule matching cmd, or success with
// no output.
func (r *Recorder) reply(cmd string) Reply {
	for _, rule := range r.Rules {
		if strings.Contains(cmd, rule.Match) {
			return rule.Reply
		}
	}
	return Reply{}
}

func answer(rep Reply, stdio Stdio) error {
	if stdio.Stdout != nil && rep.Stdout != "" {
		io.WriteString(stdio.Stdout, rep.Stdout)
	}
	if stdio.Stderr != nil && rep.Stderr != "" {
		io.WriteString(stdio.Stderr, rep.Stderr)
	}
	if rep.Status != 0 {
		return &ExitError{Status: rep.Status}
	}
	return nil
}

// Log returns a copy of every command recorded so far, in the order seen.
func (r *Recorder) Log() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Record(nil), (*r.log)...)
}

// Close implements [Conn].
func (r *Recorder) Close() error { return nil }
