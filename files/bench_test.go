package files

import (
	"context"
	"io"
	"path/filepath"
	"testing"
)

const benchSize = 64 << 20

func BenchmarkPut(b *testing.B) {
	e := newEnv(b, Config{})
	src := filepath.Join(b.TempDir(), "src")
	writeRandom(b, src, benchSize, 1)
	b.SetBytes(benchSize)
	for b.Loop() {
		if err := Put(context.Background(), e.open, src, "bench.bin", nil); err != nil {
			b.Fatal(err)
		}
		<-e.transfers
	}
}

func BenchmarkGet(b *testing.B) {
	e := newEnv(b, Config{})
	writeRandom(b, filepath.Join(e.root, "bench.bin"), benchSize, 1)
	dst := filepath.Join(b.TempDir(), "dst")
	b.SetBytes(benchSize)
	for b.Loop() {
		if err := Get(context.Background(), e.open, "bench.bin", dst, nil); err != nil {
			b.Fatal(err)
		}
		<-e.transfers
	}
}

// BenchmarkRawTCP is the ceiling: the same bytes over a bare loopback TCP connection, no
// yamux, no hashing, no disk.
func BenchmarkRawTCP(b *testing.B) {
	a, c := tcpPair(b)
	defer a.Close()
	defer c.Close()
	buf := make([]byte, ChunkSize)
	b.SetBytes(benchSize)
	for b.Loop() {
		done := make(chan error, 1)
		go func() {
			_, err := io.CopyN(io.Discard, c, benchSize)
			done <- err
		}()
		for n := 0; n < benchSize; n += len(buf) {
			if _, err := a.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkYamuxStream is one yamux stream over the same loopback TCP: the tunnel's ceiling.
func BenchmarkYamuxStream(b *testing.B) {
	hc, vc := tcpPair(b)
	ss, _ := newSessions(b, hc, vc)
	buf := make([]byte, ChunkSize)
	b.SetBytes(benchSize)
	for b.Loop() {
		done := make(chan error, 1)
		go func() {
			s, err := ss.server.Accept()
			if err == nil {
				_, err = io.CopyN(io.Discard, s, benchSize)
				s.Close()
			}
			done <- err
		}()
		s, err := ss.client.Open()
		if err != nil {
			b.Fatal(err)
		}
		for n := 0; n < benchSize; n += len(buf) {
			if _, err := s.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
