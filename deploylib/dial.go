package deploylib

import (
	"context"
	"fmt"

	"github.com/capstan-deploy/capstan/deploylib/backend"
)

// defaultDial connects to s: through /bin/sh for a Local server, else SSH.
func (r *Run) defaultDial(ctx context.Context, s Server) (backend.Conn, error) {
	if s.Local {
		return &backend.Local{}, nil
	}
	return nil, fmt.Errorf("%s: SSH is not available in this build", s.Host)
}
