// Package lab is Capstan's test kit: it starts a lab of real OpenSSH
// servers on this machine, so that a team can test its hooks, and Capstan
// its flows, against real hosts from go test. A lab has several "hosts",
// each its own sshd on a loopback port with its own host keys and, when
// the lab runs as root, its own private view of /srv; a login user; a
// client key authorised everywhere; a known_hosts file; and a small git
// repository to deploy.
//
// In a test, [Start] starts a lab and stops it when the test ends:
//
//	func TestMigrate(t *testing.T) {
//		l := lab.Start(t, lab.Options{Hosts: 2})
//		h := l.Hosts[0]
//		// Point a deploylib.Stage at l.User+"@"+h.Addr, with l.KnownHosts
//		// and l.ClientKey in its SSHOptions, deploy l.Repo to h.DeployTo,
//		// then look at the result on the host:
//		out, err := h.Capture(t.Context(), "cat", h.DeployTo+"/current/REVISION")
//		...
//	}
//
// Start skips the test when sshd or git is missing, and fails it instead
// when the environment variable CI is "true". Everything it starts is
// stopped, by process ID, when the test ends.
//
// Outside a test (a benchmark, a program, a TestMain that shares one lab
// between tests), [New] starts a lab and [Lab.Close] stops it; [Check]
// says whether this machine can run one.
package lab
