// Package audit writes the host's audit log: one JSON object per line, appended to a file only
// the host's user can read. Each line records one security-relevant event (a session starting or
// ending, a forward, a file transfer, a refused viewer) with who, from where, what and how much,
// so that an operator can answer "who reached what through this machine, and when" with grep
// and jq.
package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Event types. The set is open: a consumer must tolerate types it does not know.
const (
	TypeSessionStart = "session_start"
	TypeSessionEnd   = "session_end"
	TypeForward      = "forward"
	TypeReverse      = "reverse"
	TypeFile         = "file"
	TypeClipboard    = "clipboard"
	TypeRefused      = "refused"
	// TypeAbuse records that the host ended a session for abuse (streams opened far over the
	// rate limit); it is written once per session.
	TypeAbuse = "abuse"
	// TypeNoPath is a viewer that no network path reached: nobody refused it.
	TypeNoPath = "no_path"
	// TypeRevoked: a reload removed or changed the session's key; the session ended.
	TypeRevoked = "revoked"
)

// Event is one line of the log. Zero fields are left out of the line.
type Event struct {
	// Time is when the event happened; zero means the time Record is called.
	Time time.Time `json:"time"`
	// Type is one of the Type constants.
	Type string `json:"type"`
	// Session identifies the peer connection (for example the rendezvous session ID).
	Session string `json:"session,omitempty"`
	// Viewer is the viewer key's fingerprint (identity.Fingerprint), if it proved one.
	Viewer string `json:"viewer,omitempty"`
	// Method is the authentication method: "key" or "code".
	Method string `json:"method,omitempty"`
	// Remote is the viewer's address as the rendezvous or ICE saw it.
	Remote string `json:"remote,omitempty"`
	// Capabilities are the grants in force (for example "view_only", "permit_open=db:5432").
	Capabilities []string `json:"capabilities,omitempty"`
	// Target is the forward target ("host:port") or reverse listener address.
	Target string `json:"target,omitempty"`
	// BytesIn counts bytes from the viewer toward the host or target; BytesOut the other way.
	BytesIn  int64 `json:"bytes_in,omitempty"`
	BytesOut int64 `json:"bytes_out,omitempty"`
	// Path is the file path of a file transfer.
	Path string `json:"path,omitempty"`
	// Duration is how long a session or forward lasted.
	Duration time.Duration `json:"duration_ns,omitempty"`
	// Error says why a refusal or failure happened.
	Error string `json:"error,omitempty"`
	// Count, on a summary line, is how many events of Type it stands for: a session's
	// refusals beyond the first few in an interval are written as one line with a count.
	Count int `json:"count,omitempty"`
}

// ErrClosed is returned by Record's error hook and Close after Close.
var ErrClosed = errors.New("audit: log is closed")

// Log appends events to a file. It is safe for concurrent use. A nil *Log records nothing, so
// a host without an audit log passes nil around instead of checking everywhere.
type Log struct {
	mu     sync.Mutex
	f      *os.File
	closed bool
	err    error // first write error, reported by Close
	now    func() time.Time
}

// Open opens (creating it if needed) the log file at path for appending, mode 0600. An
// existing file with looser permissions is tightened to 0600, because the log names viewers,
// addresses and files.
func Open(path string) (*Log, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return nil, fmt.Errorf("audit: %s is readable by others and cannot be made private: %w", path, err)
		}
	}
	return &Log{f: f, now: time.Now}, nil
}

// Record appends e as one line. Each line is written with a single write to a file opened for
// appending, so lines from several goroutines (or processes) never interleave. A write error is
// kept and returned by Close: auditing must not take the session down, but it must not fail
// silently either.
func (l *Log) Record(e Event) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	e.Time = e.Time.UTC()
	b, err := json.Marshal(e)
	if err == nil {
		b = append(b, '\n')
		_, err = l.f.Write(b)
	}
	if err != nil && l.err == nil {
		l.err = fmt.Errorf("audit: write %s: %w", l.f.Name(), err)
	}
}

// Err reports the first write error so far, if any.
func (l *Log) Err() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Close flushes the file to disk and closes it. It returns the first write error, if any.
// Calling it again returns ErrClosed.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.closed = true
	return errors.Join(l.err, l.f.Sync(), l.f.Close())
}
