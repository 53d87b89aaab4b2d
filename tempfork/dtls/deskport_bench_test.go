// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package dtls

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/deskport/deskport/tempfork/dtls/pkg/crypto/selfsign"
	dtlsnet "github.com/deskport/deskport/tempfork/dtls/pkg/net"
	"github.com/pion/transport/v5/dpipe"
)

// pipePair returns a client and a server Conn, handshaken over an in-memory datagram pipe
// that neither drops nor reorders.
func pipePair(tb testing.TB) (*Conn, *Conn) {
	tb.Helper()

	return pipePairWith(tb, func(*Config) {})
}

// pipePairWith is pipePair with a config changed by configure.
func pipePairWith(tb testing.TB, configure func(*Config)) (*Conn, *Conn) {
	tb.Helper()
	ca, cb := dpipe.Pipe()
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		tb.Fatal(err)
	}
	cfg := &Config{
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true,
		CipherSuites:       []CipherSuiteID{TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	}
	configure(cfg)
	client, err := Client(dtlsnet.PacketConnFromConn(ca), ca.RemoteAddr(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	server, err := Server(dtlsnet.PacketConnFromConn(cb), cb.RemoteAddr(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- server.HandshakeContext(ctx) }()
	if err := client.HandshakeContext(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := <-errc; err != nil {
		tb.Fatal(err)
	}

	return client, server
}

// BenchmarkRecord is the cost of one application data record, sealed and written by one Conn
// and read and opened by the other (allocs/op counts both ends). 1152 bytes is about the
// payload of an SCTP packet on a 1200-byte path, what WebRTC data channels send.
func BenchmarkRecord(b *testing.B) {
	benchmarkRecord(b, func(*Config) {})
}

func benchmarkRecord(b *testing.B, configure func(*Config)) {
	b.Helper()
	client, server := pipePairWith(b, configure)
	payload := make([]byte, 1152)
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		for i := 0; i < b.N; i++ {
			if _, err := server.Read(buf); err != nil {
				done <- err

				return
			}
		}
		done <- nil
	}()
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := client.Write(payload); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	_ = client.Close()
	_ = server.Close()
}
