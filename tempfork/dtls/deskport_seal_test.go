// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package dtls

import (
	"bytes"
	"testing"

	"github.com/pion/transport/v5/test"
)

// Application data records arrive whole with every AEAD cipher suite and with connection IDs
// (RFC 9146), which Write seals through different paths.
func TestApplicationDataRecords(t *testing.T) {
	for _, tc := range []struct {
		name  string
		suite CipherSuiteID
		cid   func() []byte
	}{
		{"gcm", TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, nil},
		{"gcm256", TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, nil},
		{"ccm", TLS_ECDHE_ECDSA_WITH_AES_128_CCM, nil},
		{"ccm8", TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, nil},
		{"chacha20", TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, nil},
		{"cbc", TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, nil},
		{"gcm-cid", TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, RandomCIDGenerator(8)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer test.CheckRoutines(t)()

			client, server := pipePairWith(t, func(cfg *Config) {
				cfg.CipherSuites = []CipherSuiteID{tc.suite}
				cfg.ConnectionIDGenerator = tc.cid
			})
			buf := make([]byte, 2048)
			for i, size := range []int{0, 1, 15, 16, 17, 100, 1152, 1400} {
				msg := bytes.Repeat([]byte{byte(i + 1)}, size)
				if _, err := client.Write(msg); err != nil {
					t.Fatal(err)
				}
				if _, err := server.Write(msg); err != nil {
					t.Fatal(err)
				}
				for _, c := range []*Conn{server, client} {
					n, err := c.Read(buf)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(buf[:n], msg) {
						t.Fatalf("size %d: read %d bytes, not the record written", size, n)
					}
				}
			}
			if err := client.Close(); err != nil {
				t.Fatal(err)
			}
			if err := server.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
