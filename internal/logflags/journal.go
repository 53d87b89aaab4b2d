package logflags

import (
	"log/slog"
	"os"
)

// underJournal says stderr goes to the systemd journal, which stamps every line itself: systemd
// sets JOURNAL_STREAM to the device and inode of the stream it connected.
func underJournal() bool { return os.Getenv("JOURNAL_STREAM") != "" }

// journalAttrs drops slog's own timestamp under the journal, so `journalctl` shows one time per
// line; elsewhere it changes nothing.
func journalAttrs() func(groups []string, a slog.Attr) slog.Attr {
	if !underJournal() {
		return nil
	}
	return func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
}
