// Package input carries a viewer's keyboard and pointer to the host: the versioned binary
// format of an input stream (see docs/protocol.md), the table from KeyboardEvent.code to key
// positions, and the Server that decodes a stream, validates and rate-limits it, and hands the
// events to an Injector with the guarantees docs/architecture.md asks for: coordinates clamped
// to the captured screen, release-all when the stream ends, and a held-key heartbeat so that a
// lost key-up never leaves a key stuck.
//
// The package is pure Go so that viewers and the core build without cgo; the X11 injector is
// in input/xtest.
package input
