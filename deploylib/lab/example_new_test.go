package lab_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/capstan-deploy/capstan/deploylib/lab"
)

// A lab outside a test: a benchmark, a program, or a TestMain that shares
// one lab between the tests of a package.
func ExampleNew() {
	ctx := context.Background()
	l, err := lab.New(ctx, lab.Options{Hosts: 2})
	if errors.Is(err, lab.ErrUnavailable) {
		log.Fatalf("%v (install openssh-server and git)", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	for _, h := range l.Hosts {
		kernel, err := h.Capture(ctx, "uname", "-s")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s (%s@%s, deploy_to %s) runs %s\n", h.Name, l.User, h.Addr, h.DeployTo, kernel)
	}
}
