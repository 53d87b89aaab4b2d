//go:build unix

package loadgen

import "syscall"

// RaiseFileLimit raises this process's RLIMIT_NOFILE to want, or to as much as the hard limit
// (and, for root, the kernel) allows. Children started afterwards inherit it: 10,000 hosts on
// loopback hold 10,000 descriptors in the generator and 10,000 in the rendezvous. It returns the
// soft limit in force.
func RaiseFileLimit(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	if lim.Max < want {
		// Root may raise the hard limit too (up to fs.nr_open).
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}); err == nil {
			return want, nil
		}
	}
	lim.Cur = min(want, lim.Max)
	// Calling Setrlimit also tells os/exec not to restore the original limit in children.
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}
