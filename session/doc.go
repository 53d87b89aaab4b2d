// Package session owns one WebRTC peer connection between a viewer and a host: it negotiates the
// connection through a Signaler, authenticates both ends on the "auth" data channel with a
// transcript bound to both actual DTLS certificates, and only then hands out the two yamux
// sessions (the tunnel and the interactive channel) that package mux runs streams on. Nothing
// but the authentication exchange runs before it succeeds.
//
// Each role gets its own type: Accept returns a HostConn (who the viewer proved to be, the
// screen track, the keyframe requests and the bitrate estimate), Dial a ViewerConn (what the
// host proved and granted, the received video tracks). Both embed Conn, what the two ends
// share: the yamux sessions, the path, Close and Done.
package session
