//go:build !unix

package lab

import (
	"syscall"
)

// The lab runs OpenSSH sshd hosts on Linux. On systems without Unix
// processes it still builds, so that packages whose tests use it build
// and vet there; Require skips (fails under CI=true) before any of these
// stand-ins could matter.

// sigStop and sigCont are never sent here: no lab host ever starts.
const sigStop, sigCont = syscall.Signal(-1), syscall.Signal(-2)

func parents() map[int]int { return nil }

func freezeTree(root int) []int { return []int{root} }

func signalAll([]int, syscall.Signal) {}

func carrying(string) []int { return nil }
