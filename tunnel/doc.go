// Package tunnel carries TCP port forwards between a deskport viewer and host over one
// WebRTC data channel.
//
// The layers, bottom up:
//
//   - NewStreamConn turns a detached, message-oriented data channel (a MessageConn) into the
//     byte stream with deadlines that yamux needs.
//   - YamuxConfig, NewServerSession and NewClientSession run a yamux session over it, with windows sized for real
//     round-trip times.
//   - Every yamux stream starts with a small binary open request (WriteRequest/ReadRequest) and a
//     reply; the host checks the request against its Policy at every open.
//   - Server is the host side: it dials allowed targets, listens for reverse (-R) forwards and caps
//     streams per session. Client is the viewer side: Dial, -L (ServeLocal), -D (ServeSOCKS) and
//     -R (Remote).
//
// The package imports no pion and no cgo; the integrator supplies the data channel. The wire
// format and the policy rules are documented in docs/tunnel.md.
package tunnel
