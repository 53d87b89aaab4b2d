package files

import (
	"crypto/sha256"
	"hash"
	"sync"
)

// pipeHash computes a transfer's SHA-256 on a goroutine of its own, beside the file and
// network I/O instead of between them: on the sending host a chunk is hashed while it is
// encrypted and sent, on the receiver while it is written to the file. SHA-256 is about a third
// of the sender's CPU time and a sixth of the receiver's (docs/bench.md, "viewer cp on the
// LAN"); done in line it lengthened every chunk's turn by as much.
//
// start hands over a chunk, which must not change until a later wait has returned for it
// (chunks finish in the order they were started; at most two may be outstanding). sum returns
// the digest once every started chunk has been waited for. close ends the goroutine; it is safe
// after sum and more than once.
type pipeHash struct {
	h    hash.Hash
	in   chan []byte
	done chan struct{}
	once sync.Once
}

func newPipeHash() *pipeHash {
	p := &pipeHash{h: sha256.New(), in: make(chan []byte, 2), done: make(chan struct{}, 2)}
	go func(h hash.Hash, in <-chan []byte, done chan<- struct{}) {
		for b := range in {
			h.Write(b)
			done <- struct{}{}
		}
	}(p.h, p.in, p.done)
	return p
}

func (p *pipeHash) start(b []byte) { p.in <- b }
func (p *pipeHash) wait()          { <-p.done }
func (p *pipeHash) sum() []byte {
	p.close()
	return p.h.Sum(nil)
}
func (p *pipeHash) close() { p.once.Do(func() { close(p.in) }) }
