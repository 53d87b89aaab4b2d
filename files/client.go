package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/deskport/deskport/mux"
)

// ProgressFunc is told the bytes done so far and the total after every chunk. It runs on the
// transfer's goroutine and should return quickly.
type ProgressFunc func(done, total int64)

// openTimeout bounds the open exchange and the host's first answer.
const openTimeout = 30 * time.Second

// Put uploads the local file to remote, a path relative to the host's file root. A remote
// that is empty or ends in "/" receives the local file's base name. An existing file is
// replaced atomically; the host never shows a partial file under the final name.
func Put(ctx context.Context, open mux.OpenFunc, local, remote string, progress ProgressFunc) error {
	return put(ctx, open, local, remote, 0, progress)
}

// PutNew is Put that fails with ErrExists instead of replacing an existing file.
func PutNew(ctx context.Context, open mux.OpenFunc, local, remote string, progress ProgressFunc) error {
	return put(ctx, open, local, remote, FlagNoClobber, progress)
}

func put(ctx context.Context, open mux.OpenFunc, local, remote string, flags uint8, progress ProgressFunc) error {
	f, err := os.Open(local)
	if err != nil {
		return fmt.Errorf("files: put: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("files: put: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("files: put %s: %w (only regular files can be copied)", local, ErrNotRegular)
	}
	if remote == "" || strings.HasSuffix(remote, "/") {
		remote += filepath.Base(local)
	}
	h := Header{Op: OpPut, Flags: flags, Mode: fi.Mode().Perm(), Size: fi.Size(), Path: remote}
	c, err := start(ctx, open, h)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { abort(c) })
	defer stop()
	wrap := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("files: put %s: %w", remote, ctx.Err())
		}
		return fmt.Errorf("files: put %s: %w", remote, err)
	}
	if _, err := readStatus(c); err != nil {
		return wrap(err)
	}
	// The host may refuse mid-way (disk full); read its final status concurrently so a
	// refusal stops the upload at once instead of after the whole file.
	final := make(chan error, 1)
	go func() {
		_, err := readStatus(c)
		if err != nil {
			abort(c)
		}
		final <- err
	}()
	var n int64
	if progress != nil {
		progress(0, h.Size)
	}
	if err := send(c, f, h.Size, &n, progress); err != nil {
		var se *StatusError
		if errors.As(err, &se) && se.sent {
			// The host was told why (the local file shrank or failed); give its answer a
			// moment to arrive so the stream ends in order.
			t := time.AfterFunc(5*time.Second, func() { abort(c) })
			<-final
			t.Stop()
			return wrap(err)
		}
		abort(c)
		if ferr := <-final; errors.As(ferr, &se) {
			return wrap(ferr) // the host's reason for cutting the upload
		}
		return wrap(err)
	}
	if err := <-final; err != nil {
		return wrap(err)
	}
	return nil
}

// start opens the stream for h.
func start(ctx context.Context, open mux.OpenFunc, h Header) (net.Conn, error) {
	p, err := h.Encode()
	if err != nil {
		return nil, fmt.Errorf("files: %v %s: %w", h.Op, h.Path, err)
	}
	octx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	c, err := open(octx, mux.Request{Kind: h.Op.Kind(), Payload: p})
	if err != nil {
		return nil, fmt.Errorf("files: %v %s: %w", h.Op, h.Path, err)
	}
	return c, nil
}

// readStatus reads the next frame, which must be a status, and returns it with its error.
func readStatus(c net.Conn) (status, error) {
	t, body, err := readFrame(c, nil)
	if err != nil {
		return status{}, streamErr(err)
	}
	if t != frameStatus {
		return status{}, fmt.Errorf("%w: expected a status, got frame type %d", ErrBadHeader, t)
	}
	st, err := decodeStatus(body)
	if err != nil {
		return status{}, err
	}
	return st, st.err()
}

// streamErr explains a stream that ended without the expected message.
func streamErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the stream ended early (the connection to the host was lost or the host stopped): %v", ErrAborted, err)
	}
	if errors.Is(err, ErrBadHeader) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrAborted, err)
}

// Get downloads remote, a path relative to the host's file root, to local. A local path that
// is empty or an existing directory receives the remote base name. The file is written to a
// temporary name next to it and renamed only when complete and verified.
func Get(ctx context.Context, open mux.OpenFunc, remote, local string, progress ProgressFunc) (err error) {
	if local == "" {
		local = "."
	}
	if fi, err := os.Stat(local); err == nil && fi.IsDir() {
		local = filepath.Join(local, path.Base(remote))
	}
	c, err := start(ctx, open, Header{Op: OpGet, Path: remote})
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { abort(c) })
	defer stop()
	wrap := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("files: get %s: %w", remote, ctx.Err())
		}
		return fmt.Errorf("files: get %s: %w", remote, err)
	}
	st, err := readStatus(c)
	if err != nil {
		return wrap(err)
	}
	if st.Arg > 1<<62 {
		return wrap(fmt.Errorf("%w: size %d out of range", ErrBadHeader, st.Arg))
	}
	size := int64(st.Arg)
	dir, base := filepath.Split(local)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".deskport-*.part")
	if err != nil {
		_ = writeFrame(c, frameStatus, encodeStatus(status{Code: CodeIO, Text: "the viewer could not create the file: " + err.Error()}))
		return wrap(err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if progress != nil {
		progress(0, size)
	}
	var n int64
	rc := &conn{Conn: c, idle: DefaultIdleTimeout}
	if _, err := receive(rc, progressWriter{&durableWriter{f: f}, &n, size, progress}, size, new(int64)); err != nil {
		se := asStatus(err, CodeIO)
		if se.Code != CodeAborted {
			_ = writeFrame(c, frameStatus, encodeStatus(status{Code: se.Code, Text: se.Message}))
		}
		return wrap(err)
	}
	if ctx.Err() != nil {
		// Cancelled after the last bytes had already arrived (a window of 32 MiB can hold a
		// whole file): a cancelled download leaves no file, and the host was told (abort).
		return wrap(ctx.Err())
	}
	if err := finish(f, 0o644); err != nil {
		_ = writeFrame(c, frameStatus, encodeStatus(status{Code: CodeIO, Text: "the viewer could not write the file: " + err.Error()}))
		return wrap(err)
	}
	if err := os.Rename(f.Name(), local); err != nil {
		_ = writeFrame(c, frameStatus, encodeStatus(status{Code: CodeIO, Text: "the viewer could not rename the file: " + err.Error()}))
		return wrap(err)
	}
	// The rename is durable once the directory is flushed; failure only weakens that.
	if d, err := os.Open(dir); err == nil {
		_ = syncFile(d)
		d.Close()
	}
	_ = writeFrame(c, frameStatus, encodeStatus(status{Code: CodeOK, Arg: uint64(n)}))
	removeStaleParts(dir, base, time.Now().Add(-StalePartAge))
	return nil
}

// StalePartAge is how long a download's temporary file may go unwritten before the next
// download of the same name into the same directory removes it. A download still running
// writes at least every DefaultIdleTimeout, or ends and removes its own; one killed (SIGKILL,
// a crash, a power cut) cannot.
const StalePartAge = 10 * time.Minute

// removeStaleParts removes the temporary files a killed download of base left in dir: regular
// files named exactly as Get names them (.BASE.deskport-DIGITS.part) and last written before
// cutoff. Nothing else is touched; failures are ignored.
func removeStaleParts(dir, base string, cutoff time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base + ".deskport-"
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		digits, ok := strings.CutSuffix(rest, ".part")
		if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(cutoff) {
			os.Remove(filepath.Join(dir, name))
		}
	}
}

// progressWriter counts and reports bytes written.
type progressWriter struct {
	w        io.Writer
	n        *int64
	total    int64
	progress ProgressFunc
}

func (p progressWriter) Write(b []byte) (int, error) {
	k, err := p.w.Write(b)
	*p.n += int64(k)
	if p.progress != nil {
		p.progress(*p.n, p.total)
	}
	return k, err
}

// List returns the entries of remote, a directory relative to the host's file root ("" or
// "." for the root itself), sorted by name.
func List(ctx context.Context, open mux.OpenFunc, remote string) ([]Entry, error) {
	if remote == "" {
		remote = "."
	}
	c, err := start(ctx, open, Header{Op: OpList, Path: remote})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { abort(c) })
	defer stop()
	var out []Entry
	for {
		t, body, err := readFrame(c, nil)
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return nil, fmt.Errorf("files: list %s: %w", remote, streamErr(err))
		}
		switch t {
		case frameEntry:
			e, err := decodeEntry(body)
			if err != nil {
				return nil, fmt.Errorf("files: list %s: %w", remote, err)
			}
			if len(out) >= DefaultMaxListEntries*10 {
				return nil, fmt.Errorf("files: list %s: %w: more than %d entries", remote, ErrBadHeader, len(out))
			}
			out = append(out, e)
		case frameStatus:
			st, err := decodeStatus(body)
			if err == nil {
				err = st.err()
			}
			if err != nil {
				return nil, fmt.Errorf("files: list %s: %w", remote, err)
			}
			return out, nil
		default:
			return nil, fmt.Errorf("files: list %s: %w: unexpected frame type %d", remote, ErrBadHeader, t)
		}
	}
}
