package auth

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/deskport/deskport/identity"
)

// Options are the per-key grants of an authorized_viewers line. The zero value grants
// everything the host-wide policy allows.
type Options struct {
	// PermitOpen lists permitopen="host:port" targets (repeatable). Empty means the host-wide
	// forward policy applies.
	PermitOpen []string
	// PermitListen lists permitlisten="[bind:]port" reverse-forward listen addresses.
	PermitListen []string
	// NoPortForwarding (no-port-forwarding) refuses every forward, whatever PermitOpen says.
	NoPortForwarding bool
	// ViewOnly (view-only) refuses input events.
	ViewOnly bool
	// NoFiles (no-files) refuses file transfer.
	NoFiles bool
	// NoClipboard (no-clipboard) refuses clipboard sync.
	NoClipboard bool
	// NoView (no-view) withholds the screen; NoControl (no-control) refuses input while the
	// screen stays visible; NoForward (no-forward) refuses -L and -D; NoListen (no-listen)
	// refuses -R. They are host-side switches, one per capability, and are not sent to the
	// viewer.
	NoView, NoControl, NoForward, NoListen bool
}

// AuthorizedKey is one line of an authorized_viewers file.
type AuthorizedKey struct {
	Key     ed25519.PublicKey
	Comment string
	Options Options
}

// Limits on an authorized_viewers file, so that a mistaken path (a log file, a disk image)
// fails fast instead of eating memory.
const (
	maxAuthorizedLine  = 16 << 10
	maxAuthorizedLines = 10000
	maxOptionValue     = 255
	maxOptionRepeats   = 64
)

// ParseAuthorizedViewers reads an authorized_viewers file: OpenSSH authorized_keys syntax, one
// ssh-ed25519 key per line with optional leading options and a trailing comment; blank lines and
// lines starting with # are ignored. Any option this package does not know, any other key type
// and any key listed twice is an error naming the line: a host must refuse to run with a policy
// it cannot enforce rather than silently grant more than the owner wrote.
//
// Known options: permitopen="host:port" and permitlisten="[bind:]port" (both repeatable; the
// port may be *), no-port-forwarding, view-only, no-files, no-clipboard. Option names are
// case-insensitive as in OpenSSH.
func ParseAuthorizedViewers(r io.Reader) ([]AuthorizedKey, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxAuthorizedLine)
	var keys []AuthorizedKey
	seen := make(map[string]int)
	n := 0
	for sc.Scan() {
		n++
		if n > maxAuthorizedLines {
			return nil, fmt.Errorf("auth: authorized_viewers: more than %d lines", maxAuthorizedLines)
		}
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		k, err := parseAuthorizedLine(line)
		if err != nil {
			return nil, fmt.Errorf("auth: authorized_viewers line %d: %w", n, err)
		}
		if first, dup := seen[string(k.Key)]; dup {
			return nil, fmt.Errorf("auth: authorized_viewers line %d: key %s is already listed on line %d; keep one line per key so its options are unambiguous", n, identity.Fingerprint(k.Key), first)
		}
		seen[string(k.Key)] = n
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("auth: authorized_viewers line %d: longer than %d bytes", n+1, maxAuthorizedLine)
		}
		return nil, fmt.Errorf("auth: read authorized_viewers: %w", err)
	}
	return keys, nil
}

func parseAuthorizedLine(line []byte) (AuthorizedKey, error) {
	pub, comment, opts, rest, err := ssh.ParseAuthorizedKey(line)
	if err != nil {
		return AuthorizedKey{}, fmt.Errorf("not an authorized_keys line: %w", err)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return AuthorizedKey{}, errors.New("unexpected text after the key")
	}
	if pub.Type() != ssh.KeyAlgoED25519 {
		return AuthorizedKey{}, fmt.Errorf("key type %s is not supported; deskport viewer keys are ssh-ed25519 (run `viewer id` to print yours)", pub.Type())
	}
	cpk, ok := pub.(ssh.CryptoPublicKey)
	if !ok {
		return AuthorizedKey{}, errors.New("cannot read the ed25519 key")
	}
	edk, ok := cpk.CryptoPublicKey().(ed25519.PublicKey)
	if !ok || len(edk) != ed25519.PublicKeySize {
		return AuthorizedKey{}, errors.New("cannot read the ed25519 key")
	}
	o, err := parseOptions(opts)
	if err != nil {
		return AuthorizedKey{}, err
	}
	return AuthorizedKey{Key: edk, Comment: comment, Options: o}, nil
}

func parseOptions(opts []string) (Options, error) {
	var o Options
	for _, opt := range opts {
		name, value, hasValue := strings.Cut(opt, "=")
		name = strings.ToLower(name)
		flag := func(dst *bool) error {
			if hasValue {
				return fmt.Errorf("option %s takes no value", name)
			}
			*dst = true
			return nil
		}
		var err error
		switch name {
		case "no-port-forwarding":
			err = flag(&o.NoPortForwarding)
		case "view-only":
			err = flag(&o.ViewOnly)
		case "no-files":
			err = flag(&o.NoFiles)
		case "no-clipboard":
			err = flag(&o.NoClipboard)
		case "no-view":
			err = flag(&o.NoView)
		case "no-control":
			err = flag(&o.NoControl)
		case "no-forward":
			err = flag(&o.NoForward)
		case "no-listen":
			err = flag(&o.NoListen)
		case "permitopen", "permitlisten":
			var v string
			if v, err = optionValue(name, value, hasValue); err != nil {
				break
			}
			if name == "permitopen" {
				if err = checkPermitOpen(v); err == nil {
					o.PermitOpen = append(o.PermitOpen, v)
				}
				if len(o.PermitOpen) > maxOptionRepeats {
					err = fmt.Errorf("more than %d permitopen options", maxOptionRepeats)
				}
			} else {
				if err = checkPermitListen(v); err == nil {
					o.PermitListen = append(o.PermitListen, v)
				}
				if len(o.PermitListen) > maxOptionRepeats {
					err = fmt.Errorf("more than %d permitlisten options", maxOptionRepeats)
				}
			}
		default:
			err = fmt.Errorf("unknown option %q; deskport knows permitopen, permitlisten, no-port-forwarding, view-only, no-view, no-control, no-files, no-clipboard, no-forward and no-listen, and refuses to run with a policy it cannot enforce", name)
		}
		if err != nil {
			return Options{}, err
		}
	}
	return o, nil
}

// optionValue unquotes an option value. OpenSSH requires the double quotes and allows \" inside.
func optionValue(name, value string, hasValue bool) (string, error) {
	if !hasValue {
		return "", fmt.Errorf("option %s needs a value, as in %s=\"...\"", name, name)
	}
	if len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"' {
		return "", fmt.Errorf("option %s: value %s must be in double quotes", name, value)
	}
	v := strings.ReplaceAll(value[1:len(value)-1], `\"`, `"`)
	if v == "" || len(v) > maxOptionValue {
		return "", fmt.Errorf("option %s: value must be 1 to %d characters", name, maxOptionValue)
	}
	for _, r := range v {
		if r < 0x21 || r == 0x7f || r == '"' {
			return "", fmt.Errorf("option %s: value %q contains a space, a quote or a control character", name, v)
		}
	}
	return v, nil
}

func checkPort(p string) error {
	if p == "*" {
		return nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p {
		return fmt.Errorf("port %q is not a number from 1 to 65535 or *", p)
	}
	return nil
}

// checkPermitOpen accepts host:port and [v6addr]:port, with * for any port or any host.
func checkPermitOpen(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil || host == "" {
		return fmt.Errorf("permitopen=%q: want \"host:port\"", v)
	}
	if err := checkPort(port); err != nil {
		return fmt.Errorf("permitopen=%q: %w", v, err)
	}
	return nil
}

// checkPermitListen accepts port, bind:port and [v6addr]:port, with * for any port.
func checkPermitListen(v string) error {
	if !strings.Contains(v, ":") {
		if err := checkPort(v); err != nil {
			return fmt.Errorf("permitlisten=%q: %w", v, err)
		}
		return nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil || host == "" {
		return fmt.Errorf("permitlisten=%q: want \"port\" or \"bind:port\"", v)
	}
	if err := checkPort(port); err != nil {
		return fmt.Errorf("permitlisten=%q: %w", v, err)
	}
	return nil
}

// LoadAuthorizedViewers reads the authorized_viewers file at path. A missing file is an empty
// list (no viewer is trusted by key); a file that exists but cannot be read or parsed is an
// error, so that a typo never silently locks everyone out or lets anyone in.
func LoadAuthorizedViewers(path string) ([]AuthorizedKey, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auth: open authorized_viewers: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("auth: open authorized_viewers: %w", err)
	}
	if err := checkStrictModes(path, fi); err != nil {
		return nil, err
	}
	keys, err := ParseAuthorizedViewers(f)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return keys, nil
}

// AuthorizedFunc returns a HostConfig.Authorized lookup over a parsed key list.
func AuthorizedFunc(keys []AuthorizedKey) func(ed25519.PublicKey) (Options, bool) {
	m := make(map[string]Options, len(keys))
	for _, k := range keys {
		m[string(k.Key)] = k.Options
	}
	return func(pub ed25519.PublicKey) (Options, bool) {
		o, ok := m[string(pub)]
		return cloneOptions(o), ok
	}
}
