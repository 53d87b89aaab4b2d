package forward

import (
	"errors"
	"fmt"
	"strings"

	"github.com/deskport/deskport/mux"
)

var (
	// ErrTargetRefused means the host's forward policy does not allow the target. The wrapping
	// error names the normalised target and what the host allows.
	ErrTargetRefused = errors.New("forward: target not allowed by the host")

	// ErrListenRefused means the host's listen policy does not allow a reverse (-R) listener at
	// the requested address.
	ErrListenRefused = errors.New("forward: listen address not allowed by the host")

	// ErrDialFailed means the target was allowed but the host could not connect to it.
	ErrDialFailed = errors.New("forward: the host could not connect to the target")

	// ErrListenFailed means the listen address was allowed but the host could not listen on it.
	ErrListenFailed = errors.New("forward: the host could not listen")

	// ErrBadRule means a --allow or --allow-listen rule does not parse.
	ErrBadRule = errors.New("forward: bad allow rule")

	// ErrBadSpec means a -L, -R or -D forward specification does not parse.
	ErrBadSpec = errors.New("forward: bad forward spec")

	// ErrBadTarget means a target address is not a valid host:port.
	ErrBadTarget = errors.New("forward: bad target address")
)

// remoteError is the peer's refusal of a forward, re-labelled with this package's sentinel for
// its status while it still matches the mux one (errors.Is finds both).
type remoteError struct {
	base error
	re   *mux.RemoteError
}

func (e *remoteError) Error() string {
	// A host's message may already begin with the sentinel's words (listen refusals do): say
	// them once.
	msg := strings.TrimPrefix(e.re.Message, e.base.Error()+": ")
	return strings.TrimPrefix(e.base.Error(), "forward: ") + ": " + msg
}

func (e *remoteError) Unwrap() []error { return []error{e.base, e.re} }

// relabel gives a refusal from mux.Open the forward sentinel of its status: a StatusNotAllowed
// becomes refused (ErrTargetRefused or ErrListenRefused), a failed connect ErrDialFailed, a
// failed listen ErrListenFailed. Other errors are returned as they are.
func relabel(err, refused error) error {
	re, ok := errors.AsType[*mux.RemoteError](err)
	if !ok {
		return err
	}
	switch re.Status {
	case mux.StatusNotAllowed:
		return &remoteError{base: refused, re: re}
	case mux.StatusConnRefused, mux.StatusUnreachable:
		return &remoteError{base: ErrDialFailed, re: re}
	case mux.StatusListenFailed:
		return &remoteError{base: ErrListenFailed, re: re}
	}
	return err
}

// statusOf returns the reply status carried by an error from Dial, if any.
func statusOf(err error) (mux.Status, bool) {
	if re, ok := errors.AsType[*mux.RemoteError](err); ok {
		return re.Status, true
	}
	return 0, false
}

// checkAddrText accepts printable ASCII without spaces: host names, IP literals, brackets,
// colons. Anything else is not an address and is refused before it reaches a log, a dialer or
// the wire (where mux refuses it too).
func checkAddrText(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty address", ErrBadTarget)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return fmt.Errorf("%w: %q contains a byte outside printable ASCII", ErrBadTarget, s)
		}
	}
	return nil
}
