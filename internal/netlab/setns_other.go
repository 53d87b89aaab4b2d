//go:build !linux

package netlab

import "errors"

// setNetNS fails: network namespaces are Linux's. The package builds elsewhere so that the
// commands that use it (deskport-bench) cross-compile; the lab itself runs on Linux only.
func setNetNS(fd int) error {
	return errors.New("netlab: network namespaces need Linux")
}
