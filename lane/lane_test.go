package lane

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

func pair(t *testing.T) (viewer, host *Identity) {
	t.Helper()
	v, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return v, h
}

func TestLaneCarriesBytesBothWays(t *testing.T) {
	vid, hid := pair(t)
	ln, err := Listen(netip.MustParseAddr("127.0.0.1"), vid)
	if err != nil {
		t.Fatal(err)
	}
	offer, err := DecodeOffer(ln.Offer().Encode())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	type result struct {
		c   net.Conn
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := ln.Accept(ctx, hid.Hash)
		accepted <- result{c, err}
	}()
	hc, err := Dial(ctx, offer, hid)
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	r := <-accepted
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.c.Close()
	msg := bytes.Repeat([]byte("deskport"), 1<<16)
	go func() { hc.Write(msg); hc.Close() }()
	got, err := io.ReadAll(r.c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("got %d bytes, want %d equal ones", len(got), len(msg))
	}
	// The listener is closed once a connection is accepted.
	if c, err := net.DialTimeout("tcp", offer.Addr.String(), time.Second); err == nil {
		c.Close()
		t.Fatal("the listener still accepts after the lane is up")
	}
}

// TestLaneRefusesWrongCertificates: a dialer whose certificate is not the pinned one is dropped
// and the real one still gets in; a listener whose certificate is not the pinned one is refused
// by the dialer.
func TestLaneRefusesWrongCertificates(t *testing.T) {
	vid, hid := pair(t)
	_, stranger := pair(t)
	ln, err := Listen(netip.MustParseAddr("127.0.0.1"), vid)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx := context.Background()
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept(ctx, hid.Hash)
		if c != nil {
			defer c.Close()
			_, err = io.ReadAll(c)
		}
		accepted <- err
	}()
	if c, err := Dial(ctx, ln.Offer(), stranger); err == nil {
		// TLS 1.3: the client finishes before the server checks its certificate; the
		// refusal arrives as an alert on the first read.
		_, err = c.Read(make([]byte, 1))
		c.Close()
		if err == nil {
			t.Fatal("a stranger's certificate was accepted")
		}
	}
	wrong := ln.Offer()
	wrong.Hash[0] ^= 1
	if c, err := Dial(ctx, wrong, hid); err == nil {
		c.Close()
		t.Fatal("the dialer accepted a listener whose certificate is not the pinned one")
	} else if !errors.Is(err, ErrPinMismatch) {
		t.Logf("dial with a wrong pin: %v", err)
	}
	c, err := Dial(ctx, ln.Offer(), hid)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("ok"))
	c.Close()
	if err := <-accepted; err != nil {
		t.Fatalf("the real host did not get in after the strangers: %v", err)
	}
}

func TestLaneAcceptTimesOut(t *testing.T) {
	vid, hid := pair(t)
	ln, err := Listen(netip.MustParseAddr("127.0.0.1"), vid)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := ln.Accept(ctx, hid.Hash); !errors.Is(err, ErrNoLane) {
		t.Fatalf("Accept with nobody dialing: %v, want ErrNoLane", err)
	}
}

func TestDecodeOffer(t *testing.T) {
	good := Offer{Addr: netip.MustParseAddrPort("[fe80::1%eth0]:40000"), Hash: Hash{1, 2, 3}}
	if o, err := DecodeOffer(good.Encode()); err != nil || o != good {
		t.Fatalf("round trip: %+v, %v", o, err)
	}
	for name, b := range map[string][]byte{
		"empty":       nil,
		"version":     append([]byte{2}, good.Encode()[1:]...),
		"short":       good.Encode()[:10],
		"long":        append(good.Encode(), 0),
		"port 0":      Offer{Addr: netip.MustParseAddrPort("10.0.0.1:0")}.Encode(),
		"unspecified": Offer{Addr: netip.MustParseAddrPort("0.0.0.0:1")}.Encode(),
		"multicast":   Offer{Addr: netip.MustParseAddrPort("224.0.0.1:1")}.Encode(),
		"not an addr": append(append([]byte{1, 3}, "a:1"...), make([]byte, 32)...),
	} {
		if _, err := DecodeOffer(b); !errors.Is(err, ErrBadOffer) {
			t.Errorf("%s: %v, want ErrBadOffer", name, err)
		}
	}
}

func FuzzDecodeOffer(f *testing.F) {
	f.Add(Offer{Addr: netip.MustParseAddrPort("192.168.1.2:5000")}.Encode())
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := DecodeOffer(b)
		if err != nil {
			return
		}
		again, err := DecodeOffer(o.Encode())
		if err != nil || again != o {
			t.Fatalf("an accepted offer does not round-trip: %+v → %+v, %v", o, again, err)
		}
	})
}
