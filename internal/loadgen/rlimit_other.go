//go:build !unix

package loadgen

// RaiseFileLimit does nothing where there is no RLIMIT_NOFILE; it reports want as the limit.
func RaiseFileLimit(want uint64) (uint64, error) { return want, nil }
