// Package acceptance holds the acceptance tests of package deploylib: its
// public API driven as a team's magefile drives it, against real OpenSSH
// sshd hosts on loopback (package lab), with real git, and side by side
// with Capistrano 3 on the same servers. It has no code of its own; the
// tests live here so that go test ./deploylib stays quick.
package acceptance
