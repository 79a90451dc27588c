package sshbackend

import (
	"context"
	"fmt"
	"testing"
)

// TestHandshakeTurnsPerAddress checks that at most MaxHandshakesPerAddress
// handshakes with one address are in progress at once, while other
// addresses are not held up, and at most MaxHandshakes in all.
func TestHandshakeTurnsPerAddress(t *testing.T) {
	var releases []func()
	for range MaxHandshakesPerAddress {
		release, err := handshakeTurn(context.Background(), "bastion:22")
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := handshakeTurn(cancelled, "bastion:22"); err == nil {
		t.Fatalf("a handshake turn beyond %d was granted", MaxHandshakesPerAddress)
	}
	other, err := handshakeTurn(cancelled, "web1:22")
	if err != nil {
		// The select may pick the cancelled context even with a free
		// slot; a live context must get one at once.
		if other, err = handshakeTurn(context.Background(), "web1:22"); err != nil {
			t.Fatal(err)
		}
	}
	other()
	releases[0]()
	release, err := handshakeTurn(context.Background(), "bastion:22")
	if err != nil {
		t.Fatal(err)
	}
	release()
	for _, r := range releases[1:] {
		r()
	}

	var all []func()
	for i := range MaxHandshakes {
		release, err := handshakeTurn(context.Background(), fmt.Sprintf("web%d:22", i))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, release)
	}
	if _, err := handshakeTurn(cancelled, "one-more:22"); err == nil {
		t.Fatalf("a handshake turn beyond %d in all was granted", MaxHandshakes)
	}
	for _, r := range all {
		r()
	}

	handshakes.Lock()
	defer handshakes.Unlock()
	if n := len(handshakes.m); n != 0 {
		t.Errorf("%d addresses still tracked after every turn ended", n)
	}
}
