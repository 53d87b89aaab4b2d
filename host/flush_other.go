//go:build !linux

package host

import "os"

// flushTerminalInput is a no-op here; a line typed before a prompt is still told apart by the
// read it arrived in (terminal.run).
func flushTerminalInput(*os.File) {}
