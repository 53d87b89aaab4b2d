// Package xlib holds the one lock that every Xlib user in the process (screen/x11, input/xtest)
// takes to open or close an X display connection.
//
// XInitThreads makes Xlib safe to use from several threads, but libXext's generic-event code
// (src/Xge.c: Debian 12's libXext 1.3.4, and upstream's as we read it) keeps one process-wide
// list of the connections that use an extension it tracks (MIT-SHM, RandR, Xinerama, XTEST:
// every extension set up through XextAddDisplay), creates that list when the first such
// connection appears and frees it, with no lock, when XCloseDisplay closes the last one. A
// connection that is being set up on another thread at that moment is linked into freed memory:
// glibc aborts later, far from the cause ("malloc_consolidate(): unaligned fastbin chunk
// detected"), or the process segfaults. A host does exactly that when one viewer's stream
// closes its capturer while another viewer's session opens one, lists the monitors or opens an
// input injector. docs/capture.md has the reproduction.
//
// So opening a connection together with the first use of every such extension on it, and
// closing a connection, happen inside Do; the calls in between (capture, injection) need no
// lock, since they only look their own connection up in the list.
package xlib

import "sync"

var mu sync.Mutex

// Do runs f, which opens a display connection and sets up its extensions or closes one, while
// no other goroutine of the process does either. f must not block on the X server for longer
// than a round trip: every other open and close in the process waits for it.
func Do(f func()) {
	mu.Lock()
	defer mu.Unlock()
	f()
}
