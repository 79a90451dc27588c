package backend

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// Printer is the dry-run backend: it writes each command to W, prefixed
// with Host, and runs nothing. Every command succeeds with no output, so a
// test command reports true and a capture returns "" (SSHKit's Printer does
// the same); hooks that branch on Test or Capture should check
// deploylib.DryRun.
type Printer struct {
	Host string
	W    io.Writer
	// Mu, when set, is held while writing, so several Printers can share W.
	Mu *sync.Mutex
}

// Run implements [Conn].
func (p *Printer) Run(ctx context.Context, cmd shell.Command, stdio Stdio) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.Mu != nil {
		p.Mu.Lock()
		defer p.Mu.Unlock()
	}
	_, err := fmt.Fprintf(p.W, "%s $ %s\n", p.Host, cmd)
	if stdio.Stdin != nil {
		// Drain the input so the producer of an upload is not blocked.
		_, _ = io.Copy(io.Discard, stdio.Stdin)
	}
	return err
}

// Close implements [Conn].
func (p *Printer) Close() error { return nil }
