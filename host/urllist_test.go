package host

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"

	"github.com/deskport/deskport/internal/configfile"
)

// TestRendezvousFlag: --rendezvous replaces the default ($DESKPORT_RENDEZVOUS) once and then
// collects repetitions into the comma-separated list the agent fails over along; the config
// file's string form keeps working.
func TestRendezvousFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		def  string
		args []string
		file string
		want string
	}{
		{"default", "https://env.example", nil, "", "https://env.example"},
		{"one", "https://env.example", []string{"--rendezvous", "https://a"}, "", "https://a"},
		{"repeated", "https://env.example", []string{"--rendezvous", "https://a", "--rendezvous", "https://b"}, "", "https://a,https://b"},
		{"comma", "", []string{"--rendezvous", "https://a,https://b"}, "", "https://a,https://b"},
		{"file", "https://env.example", nil, `rendezvous = "https://a"`, "https://a"},
		{"file list", "", nil, `rendezvous = "https://a,https://b"`, "https://a,https://b"},
		{"flag beats file", "", []string{"--rendezvous", "https://c"}, `rendezvous = "https://a"`, "https://c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.def
			fs := pflag.NewFlagSet("host", pflag.ContinueOnError)
			fs.Var(&urlList{p: &got}, "rendezvous", "")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if tc.file != "" {
				path := filepath.Join(t.TempDir(), "host.toml")
				if err := os.WriteFile(path, []byte(tc.file+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				f, err := configfile.Read(path, fs)
				if err != nil {
					t.Fatal(err)
				}
				if err := f.Apply(fs); err != nil {
					t.Fatal(err)
				}
			}
			if got != tc.want {
				t.Fatalf("rendezvous = %q, want %q", got, tc.want)
			}
		})
	}
}
