package viewer

import (
	"strings"
	"testing"
)

func TestParseGrants(t *testing.T) {
	for _, tc := range []struct {
		msg, want string
		has       map[string]bool
	}{
		{"view,control,clipboard,files,forward,listen", "view,control,clipboard,files,forward,listen", map[string]bool{"view": true, "listen": true}},
		{"view", "view", map[string]bool{"view": true, "forward": false, "files": false}},
		{"none", "none", map[string]bool{"view": false, "forward": false}},
		{"", "none", map[string]bool{"view": false}},
	} {
		g := parseGrants(tc.msg)
		if g.String() != tc.want {
			t.Errorf("%q: %s, want %s", tc.msg, g, tc.want)
		}
		for n, want := range tc.has {
			if g.Has(n) != want {
				t.Errorf("%q: Has(%s) = %v", tc.msg, n, !want)
			}
		}
	}
	// A host from before the question: everything may be granted; each use finds out.
	if g := (Grants{}); !g.Has("forward") || g.String() != "unknown" {
		t.Errorf("unknown grants: Has(forward) %v, %s", g.Has("forward"), g)
	}
	err := notGranted("code", parseGrants("view"), "forward")
	if !strings.Contains(err.Error(), "--grant forward") || !strings.Contains(err.Error(), "granted: view") {
		t.Errorf("code refusal: %v", err)
	}
	err = notGranted("key", parseGrants("view"), "files")
	if !strings.Contains(err.Error(), "authorized_viewers") {
		t.Errorf("key refusal: %v", err)
	}
}
