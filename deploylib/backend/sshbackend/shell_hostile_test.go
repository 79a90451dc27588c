package sshbackend

import (
	"errors"
	"strings"
	"testing"

	"github.com/capstan-deploy/capstan/deploylib/backend"
)

// The end line of a command in the command shell comes from the server: a
// broken or hostile one may send anything there. Anything but an exit
// status (and a signal name) is an error naming the host, with what was
// sent quoted, never a status or signal made of it.
func TestShellResultRefusesGarbage(t *testing.T) {
	c := &Conn{addr: "web1.example.com:22"}
	tests := []struct {
		trailer string
		status  int // -2: a protocol error
		signal  string
	}{
		{" 0 -", 0, ""},
		{" 3 -", 3, ""},
		{" 137 KILL", 137, "KILL"},
		{" 137 ", 137, ""},
		{" 130 INT", 130, "INT"},
		{"", -2, ""},
		{" banana -", -2, ""},
		{" -1 -", -2, ""},
		{" 300 -", -2, ""},
		{" 137 \x1b[2J", -2, ""},
		{" 137 KILL extra", -2, ""},
		{" 1 kill;rm", -2, ""},
	}
	for _, tt := range tests {
		err := c.shellResult(&frame{trailer: tt.trailer}, &frame{})
		var op *OpError
		var ee *backend.ExitError
		switch {
		case tt.status == -2:
			if !errors.As(err, &op) || op.Addr != c.addr || !strings.Contains(err.Error(), "not an exit status") {
				t.Errorf("trailer %q: %v, want an *OpError naming the host", tt.trailer, err)
			}
			if strings.ContainsRune(err.Error(), 0x1b) {
				t.Errorf("trailer %q: the error holds a raw escape: %q", tt.trailer, err)
			}
		case tt.status == 0:
			if err != nil {
				t.Errorf("trailer %q: %v, want success", tt.trailer, err)
			}
		default:
			if !errors.As(err, &ee) || ee.Status != tt.status || ee.Signal != tt.signal {
				t.Errorf("trailer %q: %v, want status %d signal %q", tt.trailer, err, tt.status, tt.signal)
			}
		}
	}
}
