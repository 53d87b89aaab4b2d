package files

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/deskport/deskport/mux"
)

// Server defaults.
const (
	// DefaultMaxFileSize caps uploads when Config.MaxFileSize is zero.
	DefaultMaxFileSize = 4 << 30
	// DefaultIdleTimeout is how long a transfer may go without a frame before the host gives
	// it up.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxListEntries caps a listing.
	DefaultMaxListEntries = 10000
	// statusTimeout bounds writing a status frame.
	statusTimeout = 10 * time.Second
)

// Config configures the host side.
type Config struct {
	// Root is the directory every path is confined to. It is created (mode 0700) if missing.
	Root string
	// MaxFileSize caps the size of an upload; zero means DefaultMaxFileSize, negative means no
	// limit. A larger upload is refused before any byte is sent.
	MaxFileSize int64
	// IdleTimeout is how long a transfer may stall; zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxListEntries caps a listing; zero means DefaultMaxListEntries.
	MaxListEntries int
	// Logger receives one line per transfer (Info) and refusals (Warn); nil discards.
	Logger *slog.Logger
	// OnTransfer, if set, is called when a transfer ends, for audit logs.
	OnTransfer func(Transfer)
}

// Validate refuses unusable settings.
func (c Config) Validate() error {
	if c.Root == "" {
		return errors.New("files: Root is required: the directory the viewer may read and write")
	}
	if c.IdleTimeout < 0 || c.MaxListEntries < 0 {
		return errors.New("files: IdleTimeout and MaxListEntries must not be negative")
	}
	return nil
}

// Transfer describes a finished operation.
type Transfer struct {
	Op       Op
	Path     string // relative to the root, as cleaned; as requested if it was refused
	Size     int64  // announced size (put) or file size (get); entries for a list
	Bytes    int64  // bytes actually moved
	Start    time.Time
	Duration time.Duration
	Err      error
}

// Server is the host side. It is safe for concurrent use; each stream is served by the
// handler call that received it.
type Server struct {
	cfg      Config
	root     *os.Root
	rootName string
	log      *slog.Logger
}

// NewServer opens cfg.Root, creating it if needed.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxFileSize == 0 {
		cfg.MaxFileSize = DefaultMaxFileSize
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxListEntries == 0 {
		cfg.MaxListEntries = DefaultMaxListEntries
	}
	if err := os.MkdirAll(cfg.Root, 0o700); err != nil {
		return nil, fmt.Errorf("files: create root: %w", err)
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("files: open root: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, root: root, rootName: filepath.Base(filepath.Clean(cfg.Root)), log: log}, nil
}

// Close releases the root directory. Transfers in progress fail.
func (s *Server) Close() error { return s.root.Close() }

// Handle serves a KindFilePut or KindFileGet stream. The tunnel reply (StatusOK) must already
// have been written; everything after it, errors included, is this package's protocol.
func (s *Server) Handle(ctx context.Context, stream net.Conn, req mux.Request) {
	if req.Kind == mux.KindFilePut {
		s.ServePut(ctx, stream, req)
	} else {
		s.ServeGet(ctx, stream, req)
	}
}

// ServePut serves an upload (OpPut on a KindFilePut stream).
func (s *Server) ServePut(ctx context.Context, stream net.Conn, req mux.Request) {
	s.serve(ctx, stream, req, func(c *conn, h Header, t *Transfer) error {
		if h.Op != OpPut {
			return statusErr(CodeBadRequest, "a file-put stream carries only put requests, not %v", h.Op)
		}
		return s.put(c, h, t)
	})
}

// ServeGet serves a download or a listing (OpGet or OpList on a KindFileGet stream).
func (s *Server) ServeGet(ctx context.Context, stream net.Conn, req mux.Request) {
	s.serve(ctx, stream, req, func(c *conn, h Header, t *Transfer) error {
		switch h.Op {
		case OpGet:
			return s.get(c, h, t)
		case OpList:
			return s.list(c, h, t)
		}
		return statusErr(CodeBadRequest, "a file-get stream carries only get and list requests, not %v", h.Op)
	})
}

// conn is a stream with the idle timeout applied to every read and write.
type conn struct {
	net.Conn
	idle time.Duration
	buf  []byte
}

func (c *conn) readFrame() (byte, []byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(c.idle))
	t, b, err := readFrame(c.Conn, c.buf)
	if cap(b) > cap(c.buf) {
		c.buf = b[:0]
	}
	return t, b, err
}

func (c *conn) Write(p []byte) (int, error) {
	_ = c.SetWriteDeadline(time.Now().Add(c.idle))
	return c.Conn.Write(p)
}

func (c *conn) sendStatus(st status) error {
	_ = c.SetWriteDeadline(time.Now().Add(statusTimeout))
	return writeFrame(c.Conn, frameStatus, encodeStatus(st))
}

// serve is the common frame of the three operations: decode, run, report.
func (s *Server) serve(ctx context.Context, stream net.Conn, req mux.Request, op func(*conn, Header, *Transfer) error) {
	t := Transfer{Start: time.Now()}
	stop := context.AfterFunc(ctx, func() { abort(stream) })
	defer stop()
	defer stream.Close()
	c := &conn{Conn: stream, idle: s.cfg.IdleTimeout}
	h, err := DecodeHeader(req.Payload)
	if err == nil {
		t.Op, t.Path = h.Op, h.Path
		err = op(c, h, &t)
	} else {
		err = statusErr(CodeBadRequest, "%v", err)
	}
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("files: %v %s: %w (the session ended: the viewer left, was ended, or the host is stopping)", t.Op, t.Path, ctx.Err())
	}
	if se, ok := errors.AsType[*StatusError](err); ok && !se.sent {
		_ = c.sendStatus(status{Code: se.Code, Text: se.Message})
	}
	t.Duration = time.Since(t.Start)
	t.Err = err
	if err != nil {
		s.log.Warn("file transfer failed", "op", t.Op, "path", t.Path, "bytes", t.Bytes, "err", err)
	} else {
		s.log.Info("file transfer", "op", t.Op, "path", t.Path, "bytes", t.Bytes, "duration", t.Duration)
	}
	if s.cfg.OnTransfer != nil {
		s.cfg.OnTransfer(t)
	}
}

// put receives a file into a temporary name and renames it over the destination only once
// the checksum matched and the data is on disk.
func (s *Server) put(c *conn, h Header, t *Transfer) (err error) {
	t.Size = h.Size
	name, err := cleanPath(h.Path, s.rootName, false)
	if err != nil {
		return err
	}
	t.Path = name
	if s.cfg.MaxFileSize > 0 && h.Size > s.cfg.MaxFileSize {
		return statusErr(CodeTooLarge, "%s is %d bytes; the host accepts files up to %d bytes", name, h.Size, s.cfg.MaxFileSize)
	}
	dir, base := path.Split(name)
	if dir != "" {
		if err := s.root.MkdirAll(strings.TrimSuffix(dir, "/"), 0o755); err != nil {
			return fsError(err, "create the directory for", name, s.rootName)
		}
	}
	if fi, err := s.root.Lstat(name); err == nil {
		if fi.Mode()&fs.ModeSymlink != 0 {
			// Renaming over a symlink would replace the link, not write through it; say so
			// rather than surprise, and refuse links that lead out of the root.
			if _, err := s.root.Stat(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fsError(err, "write", name, s.rootName)
			}
			return statusErr(CodeNotRegular, "%s is a symlink on the host; upload to the file it points to instead", name)
		}
		if !fi.Mode().IsRegular() {
			return statusErr(CodeNotRegular, "%s exists on the host and is not a regular file", name)
		}
		if h.Flags&FlagNoClobber != 0 {
			return statusErr(CodeExists, "%s already exists on the host; remove it or allow overwriting", name)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fsError(err, "write", name, s.rootName)
	}
	tmp := dir + tempName(base)
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fsError(err, "create a temporary file for", name, s.rootName)
	}
	defer func() {
		if err != nil {
			f.Close()
			_ = s.root.Remove(tmp)
		}
	}()
	if err := c.sendStatus(status{Code: CodeOK}); err != nil {
		return err
	}
	if _, err := receive(c, &durableWriter{f: f}, h.Size, &t.Bytes); err != nil {
		return err
	}
	if err := finish(f, h.Mode); err != nil {
		return fsError(err, "write", name, s.rootName)
	}
	if err := s.root.Rename(tmp, name); err != nil {
		return fsError(err, "rename the upload to", name, s.rootName)
	}
	syncDir(s.root, dir)
	return c.sendStatus(status{Code: CodeOK, Arg: uint64(t.Bytes)})
}

// receive copies data frames into w until the done frame, checking the size and the SHA-256.
// Errors are StatusErrors for the peer (a stream failure becomes CodeAborted, which cannot
// be delivered but is logged).
func receive(c *conn, w io.Writer, size int64, n *int64) ([]byte, error) {
	// Two frame buffers in turn: a frame is hashed (on pipeHash's goroutine) while it is
	// written, and the next one read meanwhile into the other buffer.
	hash := newPipeHash()
	defer hash.close()
	var bufs [2][]byte
	k, pending := 0, 0
	for {
		if pending == 2 {
			hash.wait() // the frame read into bufs[k] two turns ago
			pending--
		}
		c.buf = bufs[k]
		t, body, err := c.readFrame()
		bufs[k] = c.buf
		if err != nil {
			if errors.Is(err, ErrBadHeader) {
				return nil, statusErr(CodeBadRequest, "%v", err)
			}
			return nil, &StatusError{Code: CodeAborted, Message: fmt.Sprintf("the transfer was cut after %d of %d bytes: %v", *n, size, err)}
		}
		switch t {
		case frameData:
			if *n+int64(len(body)) > size {
				return nil, statusErr(CodeBadRequest, "more data than the announced %d bytes", size)
			}
			hash.start(body)
			pending++
			if _, err := w.Write(body); err != nil {
				return nil, err
			}
			*n += int64(len(body))
			k ^= 1
		case frameDone:
			if *n != size {
				return nil, statusErr(CodeAborted, "the sender finished after %d of the announced %d bytes", *n, size)
			}
			for ; pending > 0; pending-- {
				hash.wait()
			}
			sum := hash.sum()
			if !bytes.Equal(sum, body) {
				return nil, statusErr(CodeChecksum, "SHA-256 mismatch: received %x, the sender computed %x; the data was corrupted, retry", sum, body)
			}
			return sum, nil
		case frameAbort:
			return nil, statusErr(CodeAborted, "the sender aborted: %s", cutText(string(body)))
		default:
			return nil, statusErr(CodeBadRequest, "unexpected frame type %d during a transfer", t)
		}
	}
}

// finish sets the final permissions and flushes f to disk (most of it is already on its way:
// durableWriter started the writeback of every writebackStep bytes during the transfer).
func finish(f *os.File, mode fs.FileMode) error {
	if mode == 0 {
		mode = 0o644
	}
	if err := f.Chmod(mode.Perm()); err != nil {
		return err
	}
	if err := syncFile(f); err != nil {
		return err
	}
	return f.Close()
}

// syncDir makes a rename durable; failure only weakens durability, so it is ignored.
func syncDir(root *os.Root, dir string) {
	if dir == "" {
		dir = "."
	}
	if d, err := root.Open(strings.TrimSuffix(dir, "/")); err == nil {
		_ = syncFile(d)
		d.Close()
	}
}

// tempName is the in-progress name for base: hidden, recognisable, unique.
func tempName(base string) string {
	if len(base) > 180 {
		base = base[:180]
	}
	return "." + base + ".deskport-" + randHex() + ".part"
}

func randHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// isTempName recognises tempName results so listings hide them.
func isTempName(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".part") && strings.Contains(name, ".deskport-")
}

// get sends a regular file.
func (s *Server) get(c *conn, h Header, t *Transfer) error {
	name, err := cleanPath(h.Path, s.rootName, false)
	if err != nil {
		return err
	}
	t.Path = name
	f, err := s.root.OpenFile(name, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return fsError(err, "read", name, s.rootName)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fsError(err, "read", name, s.rootName)
	}
	if fi.IsDir() {
		return statusErr(CodeNotRegular, "%s is a directory on the host; list it instead", name)
	}
	if !fi.Mode().IsRegular() {
		return statusErr(CodeNotRegular, "%s is not a regular file on the host", name)
	}
	t.Size = fi.Size()
	if err := c.sendStatus(status{Code: CodeOK, Arg: uint64(t.Size)}); err != nil {
		return err
	}
	// Read the viewer's verdict concurrently: if the viewer gives up (closes the stream, or
	// reports a local failure) mid-way, a blocked write must end at once, not when the idle
	// timeout fires. The host writes nothing after the done frame, so aborting the stream once
	// the verdict is in is always safe.
	_ = c.SetReadDeadline(time.Time{})
	verdict := make(chan error, 1)
	go func() {
		verdict <- readVerdict(c.Conn)
		abort(c.Conn)
	}()
	if err := send(c, f, t.Size, &t.Bytes, nil); err != nil {
		abort(c.Conn)
		if v := <-verdict; v != nil && !errors.Is(v, ErrAborted) {
			return fmt.Errorf("files: get %s: the viewer reported: %w", name, v)
		}
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(c.idle))
	if err := <-verdict; err != nil {
		return fmt.Errorf("files: get %s: %w", name, err)
	}
	return nil
}

// readVerdict reads the status a downloader sends after the done frame.
func readVerdict(r io.Reader) error {
	ft, body, err := readFrame(r, nil)
	if err != nil {
		return fmt.Errorf("%w: no final status from the viewer: %v", ErrAborted, err)
	}
	if ft != frameStatus {
		return fmt.Errorf("%w: viewer sent frame type %d instead of its status", ErrBadHeader, ft)
	}
	st, err := decodeStatus(body)
	if err != nil {
		return err
	}
	if err := st.err(); err != nil {
		return fmt.Errorf("the viewer reported: %w", err)
	}
	return nil
}

// send streams size bytes of r as data frames followed by the SHA-256. If r ends early it
// sends an abort frame. progress, if set, is called after each frame.
func send(w io.Writer, r io.Reader, size int64, n *int64, progress ProgressFunc) error {
	// Two chunk buffers in turn: a chunk is hashed (on pipeHash's goroutine) while it is sent,
	// and the next one read meanwhile into the other buffer.
	bufs := [2][]byte{make([]byte, frameHeader+ChunkSize), make([]byte, frameHeader+ChunkSize)}
	hash := newPipeHash()
	defer hash.close()
	turn, pending := 0, 0
	for *n < size {
		buf := bufs[turn]
		if pending == 2 {
			hash.wait() // the chunk read into buf two turns ago
			pending--
		}
		k := int(min(int64(ChunkSize), size-*n))
		m, err := io.ReadFull(r, buf[frameHeader:frameHeader+k])
		if m > 0 {
			hash.start(buf[frameHeader : frameHeader+m])
			pending++
			turn ^= 1
			if err := writeData(w, buf[:frameHeader+m]); err != nil {
				return err
			}
			*n += int64(m)
			if progress != nil {
				progress(*n, size)
			}
		}
		if err != nil {
			msg := fmt.Sprintf("the file shrank while being read: got %d of %d bytes", *n, size)
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				msg = fmt.Sprintf("reading the file failed after %d bytes: %v", *n, err)
			}
			_ = writeFrame(w, frameAbort, []byte(msg))
			return &StatusError{Code: CodeAborted, Message: msg, sent: true}
		}
	}
	for ; pending > 0; pending-- {
		hash.wait()
	}
	return writeFrame(w, frameDone, hash.sum())
}

// list sends the entries of a directory, sorted by name, hiding in-progress uploads.
func (s *Server) list(c *conn, h Header, t *Transfer) error {
	name, err := cleanPath(h.Path, s.rootName, true)
	if err != nil {
		return err
	}
	t.Path = name
	d, err := s.root.Open(name)
	if err != nil {
		return fsError(err, "list", name, s.rootName)
	}
	defer d.Close()
	if fi, err := d.Stat(); err == nil && !fi.IsDir() {
		return statusErr(CodeNotRegular, "%s is a file on the host, not a directory", name)
	}
	des, err := d.ReadDir(s.cfg.MaxListEntries + 1)
	if err != nil && !errors.Is(err, io.EOF) {
		return fsError(err, "list", name, s.rootName)
	}
	note := ""
	if len(des) > s.cfg.MaxListEntries {
		des = des[:s.cfg.MaxListEntries]
		note = fmt.Sprintf("listing cut at %d entries", s.cfg.MaxListEntries)
	}
	slices.SortFunc(des, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, de := range des {
		if isTempName(de.Name()) || len(de.Name()) > MaxName {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if err := writeFrame(c, frameEntry, encodeEntry(Entry{Name: de.Name(), Size: fi.Size(), Mode: fi.Mode(), ModTime: fi.ModTime()})); err != nil {
			return err
		}
		t.Bytes++
	}
	t.Size = t.Bytes
	return c.sendStatus(status{Code: CodeOK, Arg: uint64(t.Bytes), Text: note})
}

// abort ends a stream now: blocked reads and writes return and the peer sees the close.
func abort(c net.Conn) {
	_ = c.SetDeadline(time.Unix(1, 0))
	_ = c.Close()
}
