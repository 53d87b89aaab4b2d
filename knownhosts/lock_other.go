//go:build !unix

package knownhosts

import "os"

// Without flock, only goroutines of one process are serialised (by mu).
func lockFile(*os.File) error   { return nil }
func unlockFile(*os.File) error { return nil }
