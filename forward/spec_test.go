package forward

import (
	"errors"
	"testing"
)

func TestParseForwardSpecs(t *testing.T) {
	for _, tc := range []struct {
		in         string
		listen, to string // "" means an error
	}{
		{"8080:db:5432", "127.0.0.1:8080", "db:5432"},
		{"0.0.0.0:8080:db:5432", "0.0.0.0:8080", "db:5432"},
		{"*:8080:db:5432", "0.0.0.0:8080", "db:5432"},
		{":8080:db:5432", "0.0.0.0:8080", "db:5432"},
		{"localhost:8080:127.0.0.1:22", "localhost:8080", "127.0.0.1:22"},
		{"[::1]:8080:[fd00::5]:22", "[::1]:8080", "[fd00::5]:22"},
		{"8080:[::1]:22", "127.0.0.1:8080", "[::1]:22"},
		{"0:db:5432", "127.0.0.1:0", "db:5432"},
		{"8080:db:0", "", ""},
		{"8080:db", "", ""},
		{"8080", "", ""},
		{"a:b:c:d:e", "", ""},
		{"8080::5432", "", ""},
		{"70000:db:5432", "", ""},
		{"x:db:5432", "", ""},
		{"8080:::1:22", "", ""},
		{"[::1:8080:db:22", "", ""},
		{"[db]:8080:x:22", "", ""},
		{"8080:db:5432:", "", ""},
		{"", "", ""},
	} {
		l, err := ParseLocalSpec(tc.in)
		r, rerr := ParseRemoteSpec(tc.in)
		if tc.listen == "" {
			if err == nil || !errors.Is(err, ErrBadSpec) || rerr == nil {
				t.Errorf("Parse(%q) = %+v, %v; want ErrBadSpec", tc.in, l, err)
			}
			continue
		}
		if err != nil || rerr != nil {
			t.Errorf("Parse(%q): %v / %v", tc.in, err, rerr)
			continue
		}
		if l.ListenAddr() != tc.listen || l.Target() != tc.to || r.ListenAddr() != tc.listen || r.Target() != tc.to {
			t.Errorf("Parse(%q) = %s→%s, want %s→%s", tc.in, l.ListenAddr(), l.Target(), tc.listen, tc.to)
		}
	}
}

func TestParseDynamicSpec(t *testing.T) {
	for in, want := range map[string]string{
		"1080":            "127.0.0.1:1080",
		"0.0.0.0:1080":    "0.0.0.0:1080",
		"[::1]:1080":      "[::1]:1080",
		"*:1080":          "0.0.0.0:1080",
		"":                "",
		"a:b:1080":        "",
		"1080:":           "",
		"localhost:99999": "",
	} {
		d, err := ParseDynamicSpec(in)
		if want == "" {
			if err == nil {
				t.Errorf("ParseDynamicSpec(%q) = %+v, want error", in, d)
			}
			continue
		}
		if err != nil || d.ListenAddr() != want {
			t.Errorf("ParseDynamicSpec(%q) = %v, %v; want %s", in, d.ListenAddr(), err, want)
		}
	}
}
