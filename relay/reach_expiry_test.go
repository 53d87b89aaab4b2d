package relay

import (
	"net"
	"testing"
	"time"

	"github.com/deskport/deskport/turncred"
)

// TestAllocationOutlivesCredentials: README says a session's TURN credentials are valid for
// opening a relay and that "an established relayed session lasts as long as it runs". Once
// they have expired, the allocation made with them still gets permissions to new peers (what
// an ICE restart or a new candidate of the other end needs) and relays both ways; a new
// allocation with them is refused.
func TestAllocationOutlivesCredentials(t *testing.T) {
	leakCheck(t)
	_, addr := startRelay(t, Config{TURN: true, AllowPrivate: true})
	// Valid for the next second or two (the username carries whole seconds).
	u, p := turncred.Mint(secret, "sess", time.Now(), time.Second)
	c := client(t, addr, u, p, nil)
	rc, err := allocate(t, c)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := turncred.Expiry(u)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(exp) + 1100*time.Millisecond)
	if _, err := turncred.Check(secret, u, time.Now()); err == nil {
		t.Fatal("the credentials have not expired yet")
	}

	// A peer the allocation has never had a permission for.
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	peer.SetDeadline(time.Now().Add(10 * time.Second))
	rc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.WriteTo([]byte("after expiry"), peer.LocalAddr()); err != nil {
		t.Fatalf("a permission for a new peer after the credentials expired: %v", err)
	}
	buf := make([]byte, 1500)
	n, from, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "after expiry" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
	if _, err := peer.WriteTo([]byte("back"), from); err != nil {
		t.Fatal(err)
	}
	if n, _, err := rc.ReadFrom(buf); err != nil || string(buf[:n]) != "back" {
		t.Fatalf("relayed back %q, %v", buf[:n], err)
	}
	if _, err := allocate(t, client(t, addr, u, p, nil)); err == nil {
		t.Fatal("a new allocation with expired credentials was granted")
	}
}
