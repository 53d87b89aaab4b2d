// Package mux is deskport's stream multiplexer: many typed streams over one WebRTC data
// channel. Every feature that talks between a viewer and a host — port forwards, file
// transfer, the clipboard, input, the desktop control stream — opens its streams here.
//
// The layers, bottom up:
//
//   - NewStreamConn turns a detached, message-oriented data channel (a MessageConn) into the
//     byte stream with deadlines that yamux needs.
//   - YamuxConfig, NewServerSession and NewClientSession run a yamux session over it, with
//     windows sized for real round-trip times.
//   - Every yamux stream starts with a small binary open request naming the stream's Kind
//     (WriteRequest/ReadRequest) and a reply (WriteReply/ReadReply). The kinds are a registry
//     of wire numbers, kind.go.
//   - Open opens a stream of a kind and exchanges the request and reply; OpenFunc and Opener
//     hand that to features. Dispatcher is the accepting side: Handle registers a Handler per
//     kind, Serve routes each incoming stream to it and caps how many run at once.
//
// Port forwarding (package forward) is one set of kinds on top of this, not part of it. The
// package imports no pion and no cgo; the session package supplies the data channel. The wire
// format is documented in docs/tunnel.md.
package mux
