// Package bench is the benchmark of DESIGN.md section 6: Capstan against Capistrano
// 3.17 and against the floor (one ssh connection and one shell script per
// host), deploying the same repository with the same settings to the same
// real sshd hosts behind a latency-injecting proxy.
//
// It is driven by the repository's mage target (go tool mage bench), which
// builds and runs its command, cmd/capstan-bench, and it is not part of
// go test ./...: a full run takes minutes. Nothing in deploylib imports it.
//
// For every host count it starts a lab of real sshd hosts (lab.New of
// package deploylib/lab), puts a [latency.Proxy] in front of each, and
// alternates the tools: a compiled mage binary of a generated team project (Capstan),
// cap with a generated Capfile (Capistrano), and ssh 'sh -s' per host in
// parallel (the floor). Remote commands and SSH connections are counted
// in the sshd logs ("Starting session:" and "Accepted publickey" lines),
// wall time around the client process, and client CPU time from the
// rusage of the client's process tree.
package bench
