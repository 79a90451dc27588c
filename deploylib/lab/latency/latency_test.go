package latency

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// echoServer answers every line with the same line, after first sending a
// banner line, as an SSH server does.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				io.WriteString(c, "banner\n")
				io.Copy(c, c) // echo until the client half-closes
				c.(*net.TCPConn).CloseWrite()
			})
		}
	})
	return ln.Addr().String()
}

func startProxy(t *testing.T, target string, d time.Duration) *Proxy {
	t.Helper()
	p, err := Listen(target, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestRoundTrip measures what the proxy adds: two one-way delays per
// request and answer, and two round trips before the server's first
// bytes arrive (TCP handshake, then the banner). Sleeps are never early,
// so every sample must reach the lower bound; a loaded machine may wake
// late, so the upper bound applies to the best connect and the median
// round trip.
func TestRoundTrip(t *testing.T) {
	const d = 15 * time.Millisecond
	const slack = 15 * time.Millisecond
	p := startProxy(t, echoServer(t), d)

	var connects, rtts []time.Duration
	for range 3 {
		start := time.Now()
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r := bufio.NewReader(c)
		if line, err := r.ReadString('\n'); err != nil || line != "banner\n" {
			t.Fatalf("banner: %q, %v", line, err)
		}
		connects = append(connects, time.Since(start))
		for i := range 3 {
			start := time.Now()
			msg := string(rune('a'+i)) + "\n"
			if _, err := io.WriteString(c, msg); err != nil {
				t.Fatal(err)
			}
			if line, err := r.ReadString('\n'); err != nil || line != msg {
				t.Fatalf("echo: %q, %v", line, err)
			}
			rtts = append(rtts, time.Since(start))
		}
	}
	t.Logf("connect to first bytes %v; round trips %v", connects, rtts)
	slices.Sort(connects)
	slices.Sort(rtts)
	if connects[0] < 4*d || connects[0] > 4*d+slack {
		t.Errorf("first bytes of the server after %v at best, want two round trips (%v)", connects[0], 4*d)
	}
	if rtts[0] < 2*d {
		t.Errorf("a round trip took %v, less than %v", rtts[0], 2*d)
	}
	if med := rtts[len(rtts)/2]; med > 2*d+slack {
		t.Errorf("median round trip %v, want %v (+ at most %v)", med, 2*d, slack)
	}
}

// TestStreamKeepsOrderAndHalfClose sends a large stream in many writes and
// checks that it comes back whole and in order, and that the half-close
// travels both ways.
func TestStreamKeepsOrderAndHalfClose(t *testing.T) {
	// serial
	p := startProxy(t, echoServer(t), 2*time.Millisecond)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := make([]byte, 1<<20)
	rand.Read(data)
	go func() {
		for b := data; len(b) > 0; {
			n := min(len(b), 1000+len(b)%7000)
			if _, err := c.Write(b[:n]); err != nil {
				return
			}
			b = b[n:]
		}
		c.(*net.TCPConn).CloseWrite()
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c) // ends only if the server's half-close came through
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte("banner\n"), data...)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes back, want %d, identical", len(got), len(want))
	}
}

func TestCloseEndsOpenConnections(t *testing.T) {
	// serial
	p := startProxy(t, echoServer(t), time.Millisecond)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadByte(); err == nil {
		t.Error("connection still open after Close")
	}
	if p.Accepted() != 1 {
		t.Errorf("Accepted() = %d, want 1", p.Accepted())
	}
}
