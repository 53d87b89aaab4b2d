//go:build !(linux && cgo)

// Command xpattern paints a known picture on an X display for capture tests; it needs Linux and
// cgo (see main.go).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "xpattern: needs linux and cgo (X11)")
	os.Exit(1)
}
