// Package forward carries TCP port forwards between a deskport viewer and host, as ssh's -L, -R
// and -D do, on top of the stream multiplexer (package mux).
//
//   - Each forward is one mux stream: KindTCP asks the host to connect to a target, KindListen
//     to listen for a reverse (-R) forward, whose connections come back as KindReverse
//     streams. The host checks every open against its Policy (targets) or ListenPolicy
//     (listen addresses).
//   - Server is the host side: Register adds its handlers to a session's mux.Dispatcher (the
//     host's tunnel channel, where files also live); Serve runs a dispatcher of its own.
//     Client is the viewer side: Dial, -L (ServeLocal), -D (ServeSOCKS) and -R (Remote).
//   - ParseLocalSpec, ParseRemoteSpec and ParseDynamicSpec read the command line's forward
//     specifications; ParseRule and ParseListenRule the host's --allow and --allow-listen.
//
// No feature other than port forwarding imports this package: the clipboard, files, input and
// the desktop control stream open their streams with mux directly. The package imports no pion
// and no cgo. The policy rules are documented in docs/tunnel.md.
package forward
