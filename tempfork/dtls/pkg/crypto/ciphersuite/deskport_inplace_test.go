// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package ciphersuite

import (
	"bytes"
	"testing"

	"github.com/deskport/deskport/tempfork/dtls/pkg/protocol"
	"github.com/deskport/deskport/tempfork/dtls/pkg/protocol/recordlayer"
)

type recordCipher interface {
	Encrypt(pkt *recordlayer.RecordLayer, raw []byte) ([]byte, error)
	Decrypt(h recordlayer.Header, in []byte) ([]byte, error)
}

// An AEAD record sealed in the spare capacity of its plaintext buffer is the same record as one
// sealed into a new buffer, and opens to the same plaintext.
func TestAEADSealInPlace(t *testing.T) {
	key1, iv1 := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 12)
	key2, iv2 := bytes.Repeat([]byte{3}, 16), bytes.Repeat([]byte{4}, 12)
	for _, tc := range []struct {
		name     string
		new      func(lk, liv, rk, riv []byte) (recordCipher, error)
		overhead int
	}{
		{"gcm", func(lk, liv, rk, riv []byte) (recordCipher, error) { return NewGCM(lk, liv, rk, riv) }, 8 + 16},
		{"ccm", func(lk, liv, rk, riv []byte) (recordCipher, error) { return NewCCM(CCMTagLength, lk, liv, rk, riv) }, 8 + 16},
		{"ccm8", func(lk, liv, rk, riv []byte) (recordCipher, error) { return NewCCM(CCMTagLength8, lk, liv, rk, riv) }, 8 + 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sender, err := tc.new(key1, iv1, key2, iv2)
			if err != nil {
				t.Fatal(err)
			}
			receiver, err := tc.new(key2, iv2, key1, iv1)
			if err != nil {
				t.Fatal(err)
			}
			for _, size := range []int{0, 1, 100, 1152, 16000} {
				payload := make([]byte, size)
				for i := range payload {
					payload[i] = byte(i * 7)
				}
				record := func() *recordlayer.RecordLayer {
					return &recordlayer.RecordLayer{
						Header: recordlayer.Header{
							ContentType:    protocol.ContentTypeApplicationData,
							ContentLen:     uint16(size), //nolint:gosec
							Version:        protocol.Version1_2,
							Epoch:          1,
							SequenceNumber: 42,
						},
						Content: &protocol.ApplicationData{Data: payload},
					}
				}
				plain, err := record().Marshal()
				if err != nil {
					t.Fatal(err)
				}
				tight := bytes.Clone(plain)[:len(plain):len(plain)]
				want, err := sender.Encrypt(record(), tight)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(tight, plain) {
					t.Fatalf("size %d: Encrypt changed a buffer without room", size)
				}
				roomy := make([]byte, len(plain), len(plain)+tc.overhead)
				copy(roomy, plain)
				got, err := sender.Encrypt(record(), roomy)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("size %d: sealed in place differs from sealed into a new buffer", size)
				}
				if &got[0] != &roomy[:1][0] {
					t.Fatalf("size %d: not sealed in place", size)
				}
				opened, err := receiver.Decrypt(recordlayer.Header{}, got)
				if err != nil {
					t.Fatalf("size %d: %v", size, err)
				}
				if !bytes.Equal(opened[recordlayer.FixedHeaderSize:], payload) {
					t.Fatalf("size %d: opened to different bytes", size)
				}
			}
		})
	}
}

// The additional data written into the nonce buffer's spare room is what
// generateAEADAdditionalData returns.
func TestPutAEADAdditionalData(t *testing.T) {
	h := &recordlayer.Header{
		ContentType: protocol.ContentTypeApplicationData, Version: protocol.Version1_2,
		Epoch: 0x0102, SequenceNumber: 0x030405060708,
	}
	want := generateAEADAdditionalData(h, 1152)
	buf := make([]byte, 12, 12+aeadAdditionalDataLength)
	if got := putAEADAdditionalData(buf[12:], h, 1152); !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
	if got := putAEADAdditionalData(nil, h, 1152); !bytes.Equal(got, want) {
		t.Fatalf("without room: got %x, want %x", got, want)
	}
}
