package forward

import (
	"context"
	"io"
	"net"
	"testing"
)

// BenchmarkForward measures one forward's throughput viewer→host→loopback TCP sink, over the
// in-memory message pipe (through the adapter) and over loopback TCP. It reports; it asserts
// nothing about speed.
func BenchmarkForward(b *testing.B) {
	for _, tr := range transports {
		b.Run(tr.name, func(b *testing.B) {
			sink := service(b, func(c net.Conn) {
				io.Copy(io.Discard, c)
				c.Write([]byte{1})
			})
			e := newEnv(b, tr, ServerConfig{Policy: policyFor(b, sink.String())})
			c, err := e.client.Dial(context.Background(), sink.String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			buf := make([]byte, 64<<10)
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			closeWrite(c)
			if _, err := io.ReadFull(c, buf[:1]); err != nil {
				b.Fatal(err)
			}
		})
	}
}
