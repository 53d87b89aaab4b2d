package rendezvouscmd

import (
	"testing"

	"github.com/deskport/deskport/internal/configfile"
	"github.com/deskport/deskport/internal/svcinstall"
)

// TestServiceSpecPrivilegedDefault: the unit gets CAP_NET_BIND_SERVICE when the config makes
// the rendezvous listen below 1024 by default (HTTPS on :443, ACME's HTTP-01 on :80), and not
// otherwise.
func TestServiceSpecPrivilegedDefault(t *testing.T) {
	spec := serviceSpec()
	file := func(kv ...string) *configfile.File {
		f := &configfile.File{}
		for i := 0; i+1 < len(kv); i += 2 {
			f.Settings = append(f.Settings, configfile.Setting{Key: kv[i], Values: []string{kv[i+1]}})
		}
		return f
	}
	for _, tc := range []struct {
		name string
		f    *configfile.File
		want bool
	}{
		{"no file", nil, false},
		{"plain http on 8080", file("listen", "0.0.0.0:8080"), false},
		{"acme, no listen", file("acme", "rv.example.com"), true},
		{"acme on 8443, http-01 off", file("acme", "rv.example.com", "listen", ":8443", "acme-http-listen", ""), false},
		{"acme on 8443, http-01 on 80 by default", file("acme", "rv.example.com", "listen", ":8443"), true},
		{"tls-cert, no listen", file("tls-cert", "c.pem", "tls-key", "k.pem"), true},
		{"tls-cert on 8443", file("tls-cert", "c.pem", "tls-key", "k.pem", "listen", ":8443"), false},
		{"turn tls on 443", file("turn-tls-listen", "turn.example.com:443"), true},
		{"metrics on 9090", file("listen", "0.0.0.0:8080", "metrics-listen", "127.0.0.1:9090"), false},
		{"metrics on 90", file("listen", "0.0.0.0:8080", "metrics-listen", "127.0.0.1:90"), true},
	} {
		if got := svcinstall.PrivilegedPort(spec, tc.f); got != tc.want {
			t.Errorf("%s: privileged %v, want %v", tc.name, got, tc.want)
		}
	}
}
