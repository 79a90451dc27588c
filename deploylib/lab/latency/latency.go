// Package latency is a TCP proxy that adds a wide-area network's latency
// to connections on loopback, for benchmarks on machines whose kernel has
// no netem.
//
// Every chunk of bytes read on one side is written to the other side
// Delay later, in the order it was read, in each direction independently,
// so a request and its answer take 2×Delay more than they would directly:
// a round trip of 50 ms for the default 25 ms. Half-closes travel with the
// same delay. A new connection reaches the target one and a half round
// trips after it was accepted, when the server side of a real TCP
// handshake over such a link would see it, so the first bytes of the
// server (an SSH banner) arrive two round trips after the client
// connected, as over a real link.
//
// Bandwidth and loss are not modelled: only latency.
package latency

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// DefaultDelay is the one-way delay of a [Proxy] whose Delay is zero:
// a round trip of 50 ms.
const DefaultDelay = 25 * time.Millisecond

// chunkSize is the most a proxy reads at once on one side.
const chunkSize = 32 << 10

// queueLen is how many chunks may be in flight in one direction before
// the reading side waits (back pressure): 256 reads, up to 8 MiB when
// they are full, so a bulk transfer still runs at hundreds of MiB/s at the
// default delay. Each connection allocates two queues, which at a thousand
// connections (the simulation, go tool mage sim) is worth keeping small:
// 4096 chunks cost 390 KB per connection, allocated and zeroed in the
// fleet's process.
const queueLen = 256

// Proxy forwards the connections it accepts to Target with added latency.
type Proxy struct {
	// Target is the address connections are forwarded to ("127.0.0.1:22").
	Target string
	// Delay is the one-way delay added in each direction; 0 means
	// DefaultDelay, a negative value means none.
	Delay time.Duration
	// NoHandshakeDelay connects to Target as soon as a connection is
	// accepted, instead of 1.5 round trips later.
	NoHandshakeDelay bool

	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool

	accepted int64
}

// Listen starts a proxy on a free loopback port forwarding to target with
// a one-way delay (0 means DefaultDelay).
func Listen(target string, delay time.Duration) (*Proxy, error) {
	p := &Proxy{Target: target, Delay: delay}
	if err := p.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return p, nil
}

// Start listens on addr and serves connections in the background until
// Close.
func (p *Proxy) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("latency proxy: %w", err)
	}
	p.mu.Lock()
	p.ln = ln
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	p.wg.Go(func() { p.serve(ln) })
	return nil
}

// Addr returns the address the proxy listens on ("127.0.0.1:PORT").
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port returns the port the proxy listens on.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Accepted returns how many connections the proxy has accepted.
func (p *Proxy) Accepted() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

func (p *Proxy) delay() time.Duration {
	switch {
	case p.Delay == 0:
		return DefaultDelay
	case p.Delay < 0:
		return 0
	}
	return p.Delay
}

// Close stops accepting, closes every open connection and waits for the
// proxy's goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// track registers c for Close; it reports false when the proxy is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *Proxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		if !p.track(c) {
			return
		}
		p.mu.Lock()
		p.accepted++
		p.mu.Unlock()
		accepted := time.Now()
		p.wg.Go(func() { p.handle(c, accepted) })
	}
}

// chunk is bytes read at a time, or the end of the stream when data is nil.
type chunk struct {
	data []byte
	at   time.Time
}

// handle forwards one connection.
func (p *Proxy) handle(client net.Conn, accepted time.Time) {
	defer p.untrack(client)
	defer client.Close()
	d := p.delay()
	// The client's bytes are queued from the start, stamped with when they
	// were read; the server only hears of the connection once a handshake
	// over the link would have completed.
	up := make(chan chunk, queueLen)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		pump(client, up)
	}()
	if !p.NoHandshakeDelay {
		time.Sleep(time.Until(accepted.Add(3 * d)))
	}
	server, err := net.Dial("tcp", p.Target)
	if err == nil && !p.track(server) {
		err = net.ErrClosed
	}
	if err != nil {
		client.Close()
		for range up {
		}
		<-readDone
		return
	}
	defer p.untrack(server)
	defer server.Close()

	down := make(chan chunk, queueLen)
	var wg sync.WaitGroup
	wg.Go(func() { pump(server, down) })
	// A failed write ends both directions: closing both sides unblocks the
	// readers and the other writer.
	abort := sync.OnceFunc(func() { client.Close(); server.Close() })
	wg.Go(func() {
		if !deliver(up, server, d) {
			abort()
		}
	})
	wg.Go(func() {
		if !deliver(down, client, d) {
			abort()
		}
	})
	wg.Wait()
	<-readDone
}

// pump reads from src into q until src ends, then queues the end.
func pump(src net.Conn, q chan<- chunk) {
	defer close(q)
	buf := make([]byte, chunkSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			q <- chunk{data: append([]byte(nil), buf[:n]...), at: time.Now()}
		}
		if err != nil {
			q <- chunk{at: time.Now()}
			return
		}
	}
}

// deliver writes every chunk of q to dst d after it was read, in order.
// The end of the stream becomes a half-close of dst. It reports false when
// a write failed.
func deliver(q <-chan chunk, dst net.Conn, d time.Duration) bool {
	for c := range q {
		if wait := time.Until(c.at.Add(d)); wait > 0 {
			time.Sleep(wait)
		}
		if c.data == nil {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			} else {
				dst.Close()
			}
			// Drain what is left so the pump can finish.
			for range q {
			}
			return true
		}
		if _, err := dst.Write(c.data); err != nil {
			for range q {
			}
			return false
		}
	}
	return true
}

var _ io.Closer = (*Proxy)(nil)
