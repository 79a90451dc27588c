// Package sshbackend runs commands on a host over SSH: the production
// [backend.Conn] of the deploy engine.
//
// One [Conn] is one SSH connection, kept for the whole run and shared by all
// the commands sent to that host. It is built on golang.org/x/crypto/ssh,
// and exposes the connection as a github.com/melbahja/goph client for code
// that wants goph's helpers. Dial does what goph v1 leaves out:
//
//   - host keys verified against known_hosts files, with the host key
//     algorithms taken from the keys recorded for the host, an explicit
//     opt-in for recording unknown keys, and a changed key always fatal;
//   - a deadline on the TCP connect and the whole SSH handshake, so a hung
//     sshd cannot hang the deploy;
//   - ~/.ssh/config (HostName, User, Port, IdentityFile, ProxyJump), jump
//     hosts, ssh-agent and key files, opt-in agent forwarding;
//   - keepalives that declare a silent host dead and fail its commands;
//   - a cap on concurrent sessions below OpenSSH's MaxSessions;
//   - commands that really stop on the remote host when their context ends,
//     for root logins as well (OpenSSH before 10.0 ignores signal requests
//     from root sessions);
//   - one round trip per command instead of about two: commands without
//     standard input run one after the other in a long-lived "command
//     shell" session rather than in a session each (Config.SessionPerCommand
//     turns this off).
//
// Errors name the host and the step that failed (see [OpError]); host key
// problems are [*HostKeyError] and rejected logins [*AuthError], for use with
// errors.As.
package sshbackend
