package viewer

import (
	"strings"
	"testing"

	"github.com/deskport/deskport/tempfork/webrtc"
)

// TestCheckRecordName: viewer record refuses a name whose extension promises another format
// than the one it writes for the host's codec, and says which name to use.
func TestCheckRecordName(t *testing.T) {
	for _, c := range []struct {
		mime, out, want string // want: "" accepted, else a word of the refusal
	}{
		{webrtc.MimeTypeVP8, "session.ivf", ""},
		{webrtc.MimeTypeVP8, "dir.d/SESSION.IVF", ""},
		{webrtc.MimeTypeVP8, "session", ""},
		{webrtc.MimeTypeVP8, "session.mp4", "session.ivf"},
		{webrtc.MimeTypeVP8, "session.webm", "session.ivf"},
		{webrtc.MimeTypeVP8, "session.h264", "IVF"},
		{webrtc.MimeTypeH264, "session.h264", ""},
		{webrtc.MimeTypeH264, "session.264", ""},
		{webrtc.MimeTypeH264, "session.ivf", "session.h264"},
	} {
		err := checkRecordName(c.mime, c.out)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s %s: refused: %v", c.mime, c.out, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s %s: %v; want a refusal naming %q", c.mime, c.out, err, c.want)
		}
	}
}
