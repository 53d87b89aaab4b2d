package viewer

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/deskport/deskport/clipboard"
)

// TestClipboardTooLongSaysSo: a text over the host's clipboard limit is refused before the
// viewer connects, with the limit; before, standard input was cut one byte past the limit and
// the host's refusal named that size ("1048577 bytes") instead of the text's.
func TestClipboardTooLongSaysSo(t *testing.T) {
	big := strings.Repeat("x", 3*clipboard.DefaultMaxBytes/2)
	for _, args := range [][]string{
		{"clipboard", "abcdefghijklmnopqrstuvwx", "--stdin"},
		{"clipboard", "abcdefghijklmnopqrstuvwx", "--set", big},
	} {
		cmd := NewCommand()
		// A rendezvous nobody listens on: reaching for it would be the bug.
		cmd.SetArgs(append(args, "--rendezvous", "http://127.0.0.1:1"))
		cmd.SetIn(strings.NewReader(big))
		cmd.SetOut(io.Discard)
		var errOut bytes.Buffer
		cmd.SetErr(&errOut)
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), "more than "+strconv.Itoa(clipboard.DefaultMaxBytes)+" bytes") ||
			strings.Contains(err.Error(), "rendezvous") {
			t.Errorf("%s: %v; want a refusal naming the limit, before connecting", args[2], err)
		}
	}
}
