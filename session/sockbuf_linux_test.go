package session

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestForceUDPBuffers asks for a receive and send buffer twice the system's cap
// (net.core.rmem_max, wmem_max): as root the socket gets it (SO_RCVBUFFORCE), without root it
// keeps the capped size and sizeUDPBuffers says so in the log, once.
func TestForceUDPBuffers(t *testing.T) {
	limit := func(name string) int {
		b, err := os.ReadFile("/proc/sys/net/core/" + name)
		if err != nil {
			t.Skipf("no /proc/sys/net/core/%s: %v", name, err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	want := 2 * max(limit("rmem_max"), limit("wmem_max"))
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	_ = uc.SetReadBuffer(want)
	got, ok := forceUDPBuffers(uc, want)
	if !ok {
		t.Fatal("could not read the socket's buffer sizes")
	}
	if os.Geteuid() == 0 {
		if got.read < want || got.write < want {
			t.Fatalf("as root: buffers %+v, want %d both ways (past the cap)", got, want)
		}
	} else if got.read >= want {
		t.Fatalf("without root: receive buffer %d past the cap %d", got.read, want/2)
	}

	// The log line where the buffer stays short: at most once a process.
	shortBufferOnce = sync.Once{}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	for range 2 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		sizeUDPBuffers(c, log)
		c.Close()
	}
	lines := strings.Count(buf.String(), "rmem_max")
	switch {
	case os.Geteuid() == 0 && lines != 0:
		t.Errorf("as root the buffer is forced, yet the log says: %s", buf.String())
	case os.Geteuid() != 0 && udpSocketBuffer > limit("rmem_max") && lines != 1:
		t.Errorf("a capped buffer logged %d times, want once: %s", lines, buf.String())
	}
}
