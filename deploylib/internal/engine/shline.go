package engine

import (
	"errors"
	"strings"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// shLine returns line as a command for the shell, shown as written.
func shLine(line string) (shell.Command, error) {
	if strings.TrimSpace(line) == "" {
		return shell.Command{}, errors.New("empty shell line")
	}
	script := line
	if strings.Contains(line, "#") {
		// A comment at the end of the line would swallow the ")" that
		// closes the directory or environment group around it.
		script += "\n"
	}
	return shell.Raw(script).Shown(line), nil
}
