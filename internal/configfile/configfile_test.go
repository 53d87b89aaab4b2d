package configfile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

type opts struct {
	rendezvous string
	allow      []string
	code       bool
	fps        int
	ttl        time.Duration
	ratio      float64
	tags       []string
	bind       *Binding
}

// command builds a command shaped like the real ones, returning what it parsed.
func command(t *testing.T, name string) (*cobra.Command, *opts) {
	t.Helper()
	o := &opts{}
	cmd := &cobra.Command{Use: name, RunE: func(*cobra.Command, []string) error { return nil }, SilenceUsage: true, SilenceErrors: true}
	fs := cmd.Flags()
	fs.StringVar(&o.rendezvous, "rendezvous", "", "")
	fs.StringArrayVar(&o.allow, "allow", nil, "")
	fs.BoolVar(&o.code, "code", false, "")
	fs.IntVar(&o.fps, "fps", 30, "")
	fs.DurationVar(&o.ttl, "code-ttl", 0, "")
	fs.Float64Var(&o.ratio, "ratio", 0, "")
	fs.StringSliceVar(&o.tags, "tags", nil, "")
	o.bind = Bind(cmd, name)
	return cmd, o
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "host.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestApply(t *testing.T) {
	p := writeFile(t, `# a comment
rendezvous = "https://rv.example.com"
allow = ["127.0.0.1:22", "10.0.0.0/8:5432"]
code = true
fps = 15
code-ttl = "2m"
ratio = 2
tags = ["a,b", "c"]
`)
	cmd, o := command(t, "host")
	cmd.SetArgs([]string{"--config", p, "--fps", "60"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if o.rendezvous != "https://rv.example.com" || !o.code || o.ttl != 2*time.Minute || o.ratio != 2 {
		t.Errorf("scalars not applied: %+v", o)
	}
	if o.fps != 60 {
		t.Errorf("fps = %d; the command line (60) must win over the file (15)", o.fps)
	}
	if want := []string{"127.0.0.1:22", "10.0.0.0/8:5432"}; !reflect.DeepEqual(o.allow, want) {
		t.Errorf("allow = %q, want %q", o.allow, want)
	}
	if want := []string{"a,b", "c"}; !reflect.DeepEqual(o.tags, want) {
		t.Errorf("tags = %q, want %q (elements are not split on commas)", o.tags, want)
	}
	if !o.bind.FromCommandLine("fps") || o.bind.FromCommandLine("allow") {
		t.Errorf("FromCommandLine: fps %v allow %v", o.bind.FromCommandLine("fps"), o.bind.FromCommandLine("allow"))
	}
	if v, ok := o.bind.File().Lookup("allow"); !ok || len(v) != 2 {
		t.Errorf("Lookup(allow) = %q, %v", v, ok)
	}
}

func TestArrayFlagOnCommandLineWins(t *testing.T) {
	p := writeFile(t, `allow = ["127.0.0.1:22"]`)
	cmd, o := command(t, "host")
	cmd.SetArgs([]string{"--config", p, "--allow", "127.0.0.1:80"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"127.0.0.1:80"}; !reflect.DeepEqual(o.allow, want) {
		t.Errorf("allow = %q, want %q", o.allow, want)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string // substrings of the error
	}{
		{"unknown key", "code = true\nalow = [\"x:1\"]\n", []string{":2:", `"alow"`, `did you mean "allow"`}},
		{"wrong scalar type", "\n\nfps = \"fast\"\n", []string{":3:", `"fps"`, "want an integer, got a string"}},
		{"bool as string", "code = \"yes\"\n", []string{":1:", `"code"`, "true or false"}},
		{"string for a list", "allow = \"127.0.0.1:22\"\n", []string{":1:", `"allow"`, "want a list"}},
		{"list element type", "allow = [\"a:1\", 2]\n", []string{":1:", "element 2", "want a string"}},
		{"duration as number", "code-ttl = 10\n", []string{":1:", `"code-ttl"`, `"10s"`}},
		{"bad duration", "code-ttl = \"ten\"\n", []string{":1:", `"code-ttl"`, "duration"}},
		{"table", "code = true\n[desktop]\nfps = 1\n", []string{":2:", "[desktop]", "no sections"}},
		{"dotted key", "desktop.fps = 1\n", []string{":1:", "desktop.fps", "dotted"}},
		{"syntax", "code = true\nfps = = 3\n", []string{":2:"}},
		{"duplicate", "fps = 1\nfps = 2\n", []string{":2:"}},
		{"config in config", "config = \"x\"\n", []string{":1:", `"config"`, "not a setting"}},
		{"float for int", "fps = 2.5\n", []string{":1:", "want an integer, got a float"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, tc.body)
			cmd, _ := command(t, "host")
			cmd.SetArgs([]string{"--config", p})
			err := cmd.Execute()
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name the file", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	cmd, _ := command(t, "host")
	cmd.SetArgs([]string{"--config", filepath.Join(t.TempDir(), "nope.toml")})
	if err := cmd.Execute(); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing --config file: err = %v, want not-exist", err)
	}
}

// defaultDir points the default search path at a fresh temporary directory, whichever user
// runs the test: $XDG_CONFIG_HOME for a user, the system directory (normally /etc/deskport,
// which a test must not write) for root. It returns the directory the file goes in.
func defaultDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv(DirEnv, "")
	if os.Geteuid() != 0 {
		return filepath.Join(dir, "deskport")
	}
	old := systemDir
	systemDir = filepath.Join(dir, "etc-deskport")
	t.Cleanup(func() { systemDir = old })
	return systemDir
}

func TestDefaultPath(t *testing.T) {
	if os.Geteuid() == 0 && systemDir != "/etc/deskport" {
		t.Errorf("root's default directory is %q, want /etc/deskport", systemDir)
	}
	dir := defaultDir(t)
	if got, want := DefaultPath("host"), filepath.Join(dir, "host.toml"); got != want {
		t.Errorf("DefaultPath = %q, want %q", got, want)
	}
	// Both branches, whoever runs the test.
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	if got, want := defaultPath("rendezvous", false), filepath.Join(xdg, "deskport", "rendezvous.toml"); got != want {
		t.Errorf("a user's default = %q, want %q", got, want)
	}
	if got, want := defaultPath("rendezvous", true), filepath.Join(systemDir, "rendezvous.toml"); got != want {
		t.Errorf("root's default = %q, want %q", got, want)
	}
	// $DESKPORT_CONFIG_DIR replaces both.
	over := t.TempDir()
	t.Setenv(DirEnv, over)
	for _, root := range []bool{false, true} {
		if got, want := defaultPath("host", root), filepath.Join(over, "host.toml"); got != want {
			t.Errorf("root %v with $%s: %q, want %q", root, DirEnv, got, want)
		}
	}
}

// TestDefaultFileIsRead runs as a user (the file under $XDG_CONFIG_HOME) and as root (the
// system directory, moved to a temporary one), so CI, which runs as root, exercises it.
func TestDefaultFileIsRead(t *testing.T) {
	dir := defaultDir(t)
	cmd, _ := command(t, "host")
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("no default file must be fine: %v", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "host.toml"), []byte("fps = 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, o := command(t, "host")
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if o.fps != 5 {
		t.Errorf("fps = %d, want 5 from the default file", o.fps)
	}
	if got, want := o.bind.Path(), filepath.Join(dir, "host.toml"); got != want {
		t.Errorf("the file in use is %q, want %q", got, want)
	}
	// A default file with an error stops the start like a --config file does.
	if err := os.WriteFile(filepath.Join(dir, "host.toml"), []byte("fsp = 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, _ = command(t, "host")
	cmd.SetArgs(nil)
	if err := cmd.Execute(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "host.toml:1") {
		t.Errorf("a default file with a typo: err = %v, want ErrInvalid naming host.toml:1", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("allow = [\"a:1\"]\nfps = 3\n"))
	f.Add([]byte("[x]\ny=1"))
	f.Add([]byte("a=1\n[\"x\\u0041\"]\ny=1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, _ := command(t, "host")
		file, err := Parse("f.toml", data, cmd.Flags())
		if err == nil {
			_ = file.Apply(cmd.Flags())
		}
	})
}
