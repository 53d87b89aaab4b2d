// Package session owns one WebRTC peer connection between a viewer and a host: it negotiates the
// connection through a Signaler, authenticates both ends on the "auth" data channel with a
// transcript bound to both actual DTLS certificates, and only then hands out the yamux session
// that carries the tunnel. Nothing but the authentication exchange runs before it succeeds.
package session
