// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package dtls

import (
	"context"
	"sync"
	"time"
)

// deskport: ioGuard lets a context interrupt a blocking read or write on the underlying
// net.PacketConn without a goroutine, a channel or a context.AfterFunc per call. netctx's
// ReadFromContext and WriteToContext register an AfterFunc for every packet, and Write wrapped
// its context in one more goroutine and channel (contextWithClose, gone): on a busy connection that
// was a large part of the CPU a record costs. ioGuard registers one AfterFunc per context (the
// read loop's context, or the write deadline's current context, which lives until the deadline
// fires) and, when the context ends, sets a deadline in the past on the underlying connection
// only if an operation is in flight, and lifts it again when that operation returns, as netctx
// does.
type ioGuard struct {
	mu          sync.Mutex
	setDeadline func(time.Time) error // SetReadDeadline or SetWriteDeadline of the underlying conn
	armed       context.Context       //nolint:containedctx // the context an AfterFunc watches
	stopArmed   func() bool
	inFlight    bool
	interrupted bool // the deadline in the past is set and must be lifted by end
}

// ioGuardPast is a deadline in the past; the underlying connection's operation returns at once.
var ioGuardPast = time.Unix(0, 1) //nolint:gochecknoglobals

// begin marks an operation in flight, interruptible by ctx and by anything that calls
// interruptAll. It returns false, and marks nothing, if ctx is done or done is closed.
func (g *ioGuard) begin(ctx context.Context, done <-chan struct{}) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ctx.Err() != nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
	}
	if ctx != g.armed {
		if g.stopArmed != nil {
			g.stopArmed()
		}
		g.armed = ctx
		g.stopArmed = context.AfterFunc(ctx, func() { g.interrupt(ctx) })
	}
	g.inFlight = true

	return true
}

// end marks the operation begun by begin as finished.
func (g *ioGuard) end() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight = false
	if g.interrupted {
		g.interrupted = false
		_ = g.setDeadline(time.Time{})
	}
}

// interrupt unblocks the operation in flight if ctx is still the context it watches.
func (g *ioGuard) interrupt(ctx context.Context) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ctx == g.armed {
		g.interruptLocked()
	}
}

// interruptAll unblocks the operation in flight, whatever its context.
func (g *ioGuard) interruptAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.interruptLocked()
}

func (g *ioGuard) interruptLocked() {
	if g.inFlight && !g.interrupted {
		g.interrupted = true
		_ = g.setDeadline(ioGuardPast)
	}
}
