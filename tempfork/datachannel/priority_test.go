// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package datachannel

import (
	"net"
	"testing"

	"github.com/deskport/deskport/tempfork/sctp"
	"github.com/pion/logging"
)

type connectedUDP struct {
	*net.UDPConn
	peer net.Addr
}

func (c *connectedUDP) Read(b []byte) (int, error) {
	n, _, err := c.ReadFrom(b)

	return n, err
}

func (c *connectedUDP) Write(b []byte) (int, error) { return c.WriteTo(b, c.peer) }

func (c *connectedUDP) RemoteAddr() net.Addr { return c.peer }

// A channel's priority becomes its stream's send priority on the side that opens it and, through
// the DATA_CHANNEL_OPEN message, on the side that accepts it.
func TestPriorityAppliesToStream(t *testing.T) {
	ca, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	lf := logging.NewDefaultLoggerFactory()
	srv := make(chan *sctp.Association, 1)
	go func() {
		a, err := sctp.Server(sctp.Config{NetConn: &connectedUDP{sa, ca.LocalAddr()}, LoggerFactory: lf})
		if err != nil {
			t.Error(err)
		}
		srv <- a
	}()
	client, err := sctp.Client(sctp.Config{NetConn: &connectedUDP{ca, sa.LocalAddr()}, LoggerFactory: lf})
	if err != nil {
		t.Fatal(err)
	}
	server := <-srv
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { client.Close(); server.Close() })

	cfg := &Config{ChannelType: ChannelTypeReliable, Priority: ChannelPriorityHigh, Label: "input", LoggerFactory: lf}
	opened, err := Dial(client, 4, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := opened.stream.Priority(); got != ChannelPriorityHigh {
		t.Fatalf("opener's stream priority %d, want %d", got, ChannelPriorityHigh)
	}
	accepted, err := Accept(server, &Config{LoggerFactory: lf})
	if err != nil {
		t.Fatal(err)
	}
	if accepted.Config.Priority != ChannelPriorityHigh || accepted.stream.Priority() != ChannelPriorityHigh {
		t.Fatalf("accepter: channel priority %d, stream priority %d, want %d for both",
			accepted.Config.Priority, accepted.stream.Priority(), ChannelPriorityHigh)
	}
}
