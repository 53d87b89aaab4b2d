package files

import (
	"errors"
	"fmt"
)

var (
	// ErrBadHeader means a request header or frame is malformed or exceeds a limit.
	ErrBadHeader = errors.New("files: malformed message")

	// ErrOutsideRoot means a path is absolute, contains "..", or leads through a symlink out
	// of the host's file root.
	ErrOutsideRoot = errors.New("files: path outside the host's file root")

	// ErrNotFound means the named file or directory does not exist.
	ErrNotFound = errors.New("files: no such file or directory")

	// ErrTooLarge means a file exceeds the receiver's size limit.
	ErrTooLarge = errors.New("files: file too large")

	// ErrExists means the destination exists and the request asked not to replace it.
	ErrExists = errors.New("files: destination exists")

	// ErrChecksum means the SHA-256 of the received bytes does not match the sender's trailer.
	ErrChecksum = errors.New("files: checksum mismatch")

	// ErrNotRegular means the path names a directory or a special file where a regular file
	// was expected (or the other way round for a listing).
	ErrNotRegular = errors.New("files: not a regular file")

	// ErrDenied means the operating system refused access.
	ErrDenied = errors.New("files: permission denied")

	// ErrAborted means the sender gave up or the stream ended before the transfer was
	// complete.
	ErrAborted = errors.New("files: transfer aborted")

	// ErrRemote is matched by any failure the peer reported that has no more specific
	// sentinel (I/O errors such as a full disk).
	ErrRemote = errors.New("files: the peer reported an error")
)

// Code is a status code on the wire. Numbers never change meaning.
type Code uint8

// Status codes.
const (
	CodeOK          Code = 0
	CodeBadRequest  Code = 1
	CodeNotFound    Code = 2
	CodeOutsideRoot Code = 3
	CodeTooLarge    Code = 4
	CodeExists      Code = 5
	CodeChecksum    Code = 6
	CodeIO          Code = 7
	CodeAborted     Code = 8
	CodeNotRegular  Code = 9
	CodeDenied      Code = 10

	maxCode = CodeDenied
)

var codeErrs = [...]error{nil, ErrBadHeader, ErrNotFound, ErrOutsideRoot, ErrTooLarge, ErrExists, ErrChecksum, ErrRemote, ErrAborted, ErrNotRegular, ErrDenied}

// StatusError is a failure reported in a status message. Its Message is meant for the user
// and says what went wrong and, where it can, what to do. errors.Is matches the sentinel for
// its Code.
type StatusError struct {
	Code    Code
	Message string

	sent bool // the peer was already told (an abort frame), so no status follows
}

func (e *StatusError) Error() string { return e.Message }

// Unwrap returns the sentinel error for the code.
func (e *StatusError) Unwrap() error {
	if int(e.Code) < len(codeErrs) && e.Code != CodeOK {
		return codeErrs[e.Code]
	}
	return ErrRemote
}

func statusErr(c Code, format string, args ...any) *StatusError {
	return &StatusError{Code: c, Message: fmt.Sprintf(format, args...)}
}

// asStatus turns any error into a StatusError for the wire.
func asStatus(err error, fallback Code) *StatusError {
	if se, ok := errors.AsType[*StatusError](err); ok {
		return se
	}
	return &StatusError{Code: fallback, Message: err.Error()}
}
