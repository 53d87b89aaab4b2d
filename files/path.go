package files

import (
	"errors"
	"io/fs"
	"path"
	"strings"
	"syscall"
)

// cleanPath checks a request path before it reaches os.Root and returns it cleaned. os.Root
// would refuse escapes anyway; checking first gives the user a message that says why.
// allowRoot lets "." (or "") name the root itself, for listings.
func cleanPath(p, rootName string, allowRoot bool) (string, error) {
	if p == "" || p == "." {
		if allowRoot {
			return ".", nil
		}
		return "", statusErr(CodeBadRequest, "no file name given; paths are relative to %s", rootName)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", statusErr(CodeBadRequest, "path %q contains a NUL byte", p)
	}
	// A name with control characters would rewrite the terminal of whoever lists the root
	// (here, or a viewer's `ls`); the host creates and serves none.
	if strings.IndexFunc(p, isControl) >= 0 {
		return "", statusErr(CodeBadRequest, "path %q contains a control character; use printable names", p)
	}
	if strings.HasPrefix(p, "/") {
		return "", statusErr(CodeOutsideRoot, "path %s is absolute; paths are relative to %s", p, rootName)
	}
	for c := range strings.SplitSeq(p, "/") {
		if c == ".." {
			return "", statusErr(CodeOutsideRoot, "path %s leaves the host's file root; paths are relative to %s", p, rootName)
		}
		if len(c) > 255 {
			return "", statusErr(CodeBadRequest, "path %s has a component longer than 255 bytes", p)
		}
	}
	clean := path.Clean(p)
	if clean == "." && !allowRoot {
		return "", statusErr(CodeBadRequest, "path %s names the file root itself; give a file name", p)
	}
	return clean, nil
}

// isControl reports C0 and C1 control characters and DEL.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f }

// fsError turns an error from os.Root into a status for the user. It never includes the
// host's absolute paths: only the relative name the viewer asked for.
func fsError(err error, what, name, rootName string) *StatusError {
	var errno syscall.Errno
	errors.As(err, &errno)
	switch {
	case isEscape(err):
		return statusErr(CodeOutsideRoot, "path %s leads outside the host's file root through a symlink; paths are relative to %s", name, rootName)
	case errors.Is(err, fs.ErrNotExist):
		return statusErr(CodeNotFound, "%s does not exist in %s on the host", name, rootName)
	case errors.Is(err, fs.ErrPermission):
		return statusErr(CodeDenied, "the host may not %s %s: permission denied", what, name)
	case errno == syscall.ENOSPC || errno == syscall.EDQUOT:
		return statusErr(CodeIO, "the host's disk is full while writing %s", name)
	case errno == syscall.ENOTDIR:
		return statusErr(CodeBadRequest, "a parent of %s is not a directory on the host", name)
	case errno == syscall.EISDIR:
		return statusErr(CodeNotRegular, "%s is a directory on the host", name)
	case errno == syscall.ENAMETOOLONG:
		return statusErr(CodeBadRequest, "the name %s is too long for the host's file system", name)
	case errno == syscall.ELOOP:
		return statusErr(CodeOutsideRoot, "path %s runs through too many symlinks", name)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return statusErr(CodeIO, "could not %s %s on the host: %v", what, name, err)
}

// isEscape reports whether err is os.Root refusing a path that leaves the root. The os
// package does not export that error, so its text is matched.
func isEscape(err error) bool {
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}
