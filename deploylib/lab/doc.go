// Package lab starts a test lab of real OpenSSH servers on this machine:
// several "hosts", each its own sshd on a loopback port with its own host
// keys and, when the tests run as root, its own private view of /srv, plus
// a login user, a client key authorised everywhere, a known_hosts file and
// a small git repository to deploy.
//
// It serves the tests of the whole project and teams testing their hooks:
//
//	func TestDeploy(t *testing.T) {
//		l := lab.Start(t, lab.Options{Hosts: 3})
//		for _, h := range l.Hosts {
//			conn, err := sshbackend.Dial(context.Background(), l.SSHConfig(h))
//			...
//			// deploy_to on the host is h.DeployTo; locally, h.Root+"/app".
//			// l.Repo is a git repository to deploy, l.Commits its history.
//		}
//	}
//
// Start skips the test when sshd or git is missing, and fails it instead
// when the environment variable CI is "true". Everything it starts is
// stopped, by process ID, when the test ends.
package lab
