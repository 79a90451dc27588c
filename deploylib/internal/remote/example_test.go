package remote_test

import (
	"fmt"

	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
)

func ExampleIsReleaseName() {
	for _, name := range []string{"20261125214042", "new", "2026112521404"} {
		fmt.Println(name, remote.IsReleaseName(name))
	}
	// Output:
	// 20261125214042 true
	// new false
	// 2026112521404 false
}

func ExampleLayout_Switch() {
	l := remote.At("/srv/shop")
	fmt.Println(l.Switch(l.Release("20261125214042"), "1f2e3d4c"))
	// Output:
	// test '!' -d /srv/shop/current || test -L /srv/shop/current || { echo 'refusing to replace /srv/shop/current: it is a directory, not a symlink' 1>&2 && false; } && { test -d /srv/shop/releases/20261125214042 && test '!' -L /srv/shop/releases/20261125214042 || { echo 'refusing to point current at /srv/shop/releases/20261125214042: it is not a release directory' 1>&2 && false; }; } && { test '!' -e /srv/shop/.capstan/switch-1f2e3d4c && test '!' -L /srv/shop/.capstan/switch-1f2e3d4c || rm -rf -- /srv/shop/.capstan/switch-1f2e3d4c; } && mkdir -p /srv/shop/.capstan/switch-1f2e3d4c && ln -s /srv/shop/releases/20261125214042 /srv/shop/.capstan/switch-1f2e3d4c/current && mv /srv/shop/.capstan/switch-1f2e3d4c/current /srv/shop && rm -f /srv/shop/.capstan/unfinished/20261125214042
}
