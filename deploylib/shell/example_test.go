package shell_test

import (
	"fmt"

	"github.com/capstan-deploy/capstan/deploylib/shell"
)

func ExampleCommand_String() {
	release := "/srv/shop/releases/20261125214042"
	archive := shell.New("git", "archive", "--format=tar", "0123abc").
		Pipe(shell.New("tar", "-x", "-f", "-", "-C", release)).
		In("/srv/shop/repo")
	fmt.Println(archive)
	fmt.Println(shell.New("echo", "Branch it's $(main)").AppendTo("/srv/shop/revisions.log"))
	// Output:
	// cd /srv/shop/repo && ( git archive --format=tar 0123abc | tar -x -f - -C /srv/shop/releases/20261125214042 )
	// echo 'Branch it'\''s $(main)' >> /srv/shop/revisions.log
}
