package viewer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/deskport/deskport/files"
	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/internal/termtext"
	"github.com/deskport/deskport/mux"
)

// splitRemote splits "HOSTID:path"; ok is false for a local path.
func splitRemote(s string) (hostID, path string, ok bool) {
	id, p, found := strings.Cut(s, ":")
	if !found {
		return "", "", false
	}
	if _, err := identity.ParseHostID(id); err != nil {
		return "", "", false
	}
	return id, p, true
}

// Copy copies a file to or from a host: exactly one of src and dst is "HOSTID:path", a path
// under the host's file root. progress (nil for none) shows a bar on w.
func Copy(ctx context.Context, cfg Config, src, dst string, progress io.Writer) error {
	srcID, srcPath, srcRemote := splitRemote(src)
	dstID, dstPath, dstRemote := splitRemote(dst)
	switch {
	case srcRemote == dstRemote:
		return fmt.Errorf("give one local path and one HOSTID:path, e.g. `viewer cp report.pdf HOSTID:inbox/report.pdf`")
	case srcRemote:
		cfg.HostID = srcID
	default:
		cfg.HostID = dstID
	}
	// What can be checked here is checked before connecting: a mistyped local name should not
	// wait for (or be hidden behind) the rendezvous and the host.
	var srcSize int64
	if dstRemote {
		st, err := os.Stat(src)
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file (only regular files can be copied)", src)
		}
		srcSize = st.Size()
	}
	conn, _, err := connectFor(ctx, cfg, "files")
	if err != nil {
		return err
	}
	defer conn.Close()
	open := mux.Opener(conn.Bulk())
	bar := func(total int64, desc string) files.ProgressFunc {
		if progress == nil {
			return nil
		}
		return files.NewProgressBar(progress, total, desc)
	}
	if dstRemote {
		err := files.Put(ctx, open, src, dstPath, bar(srcSize, "upload "+src))
		if errors.Is(err, files.ErrNotRegular) && dstPath != "" && !strings.HasSuffix(dstPath, "/") && ctx.Err() == nil {
			// The host replaces no directory. When the destination is one, the file goes
			// into it, as `cp report.pdf inbox` and scp do (and as a download into a local
			// directory does): `viewer cp report.pdf HOST:inbox`.
			if _, lerr := files.List(ctx, open, dstPath); lerr == nil {
				return files.Put(ctx, open, src, dstPath+"/", bar(srcSize, "upload "+src))
			}
		}
		return err
	}
	return files.Get(ctx, open, srcPath, dst, bar(0, "download "+srcPath))
}

// ListFiles prints a directory under the host's file root.
func ListFiles(ctx context.Context, cfg Config, dir string, w io.Writer) error {
	conn, _, err := connectFor(ctx, cfg, "files")
	if err != nil {
		return err
	}
	defer conn.Close()
	entries, err := files.List(ctx, mux.Opener(conn.Bulk()), dir)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range entries {
		name := e.Name
		if e.Mode.IsDir() {
			name += "/"
		}
		// The name comes from the host's disk: it may hold any byte but '/' and NUL.
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", e.Mode, e.Size, e.ModTime.Format("2006-01-02 15:04"), termtext.Escape(name))
	}
	return tw.Flush()
}
