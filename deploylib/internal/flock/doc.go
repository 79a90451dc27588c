// Package flock takes an exclusive lock on a file, across processes: the
// known_hosts recorder and the lab's user setup use it.
package flock
