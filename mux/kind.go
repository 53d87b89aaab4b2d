package mux

import "fmt"

// Kind is the type of a stream, the first thing a stream's opener says. Dispatcher routes each
// accepted stream to the Handler registered for its kind.
type Kind uint8

// The registry of stream kinds. Numbers are wire values (the browser viewer in web/ speaks them
// too) and never change meaning; zero is invalid. A new feature takes the next free number here,
// adds its row to kinds and to docs/tunnel.md, and registers its Handler on the channel it
// belongs to. The forwarding kinds carry an address in the open request (Request.Addr,
// Request.ListenID); every other kind carries its feature's own Payload.
const (
	// KindTCP (viewer→host, tunnel channel) asks the host to connect to a TCP target
	// ("host:port"). Package forward.
	KindTCP Kind = 1
	// KindListen (viewer→host, tunnel channel) asks the host to listen for a reverse (-R)
	// forward. The stream stays open for the listener's lifetime: closing it closes the
	// listener. Package forward.
	KindListen Kind = 2
	// KindReverse (host→viewer, tunnel channel) carries one connection accepted on a
	// KindListen listener. Package forward.
	KindReverse Kind = 3
	// KindInput (viewer→host, interactive channel) carries input events. Package input.
	KindInput Kind = 4
	// KindControl (viewer→host, interactive channel) is the desktop control stream: quality,
	// monitor, stats and keyframe messages. Package desktopctl.
	KindControl Kind = 5
	// KindClipboard (viewer→host, interactive channel) carries clipboard content. Package
	// clipboard.
	KindClipboard Kind = 6
	// KindFilePut (viewer→host, tunnel channel) uploads a file. Package files.
	KindFilePut Kind = 7
	// KindFileGet (viewer→host, tunnel channel) downloads a file or lists a directory.
	// Package files.
	KindFileGet Kind = 8
	// KindLane (viewer→host, interactive channel) offers the direct TCP lane: Payload is the
	// viewer's address and certificate hash (package lane), the OK reply's message the hex
	// SHA-256 of the host's certificate. The stream stays open while the lane is up. Package
	// session.
	KindLane Kind = 9
	// KindGrants (viewer→host, interactive channel) asks what this session may do: the OK
	// reply's message is the comma-separated list of granted capabilities as the host's logs
	// and --grant name them ("view,control,clipboard,files,forward,listen", "none"), and the
	// stream ends there. It is answered once a one-time code's session is accepted by the
	// host's owner, so a viewer also learns from it that the prompt was answered. A host from
	// before it refuses the kind as unknown (StatusUnsupported).
	KindGrants Kind = 10

	maxKind = KindGrants
)

// kinds is the registry's table: each kind's name in logs and whether its open request
// carries an address (the forwarding kinds) rather than an opaque payload.
var kinds = [...]struct {
	name string
	addr bool
}{
	{name: "invalid"},
	KindTCP:       {name: "tcp", addr: true},
	KindListen:    {name: "listen", addr: true},
	KindReverse:   {name: "reverse", addr: true},
	KindInput:     {name: "input"},
	KindControl:   {name: "control"},
	KindClipboard: {name: "clipboard"},
	KindFilePut:   {name: "file-put"},
	KindFileGet:   {name: "file-get"},
	KindLane:      {name: "lane"},
	KindGrants:    {name: "grants"},
}

func (k Kind) String() string {
	if k.valid() {
		return kinds[k].name
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// valid reports whether k is in the registry.
func (k Kind) valid() bool { return k >= KindTCP && k <= maxKind }
