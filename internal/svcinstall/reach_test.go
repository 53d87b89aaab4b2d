package svcinstall

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestMissingConfigNamesThePackagedExample: when the unit's config file does not exist,
// install points at an example that exists — where the packages put it
// (/usr/share/doc/deskport-<name>/<name>.toml, as packaging/build installs it) and the
// source's packaging/<name>.toml. It named /usr/share/doc/deskport/, which no package has.
func TestMissingConfigNamesThePackagedExample(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(here), "..", "..")
	build, err := os.ReadFile(filepath.Join(root, "packaging", "build", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(build), `doc := "/usr/share/doc/deskport-" + p.name`) {
		t.Fatal("packaging/build no longer installs the examples under /usr/share/doc/deskport-<name>/; update missingConfig")
	}
	for _, name := range []string{"host", "rendezvous"} {
		msg := missingConfig(Spec{Name: name}, "/etc/deskport/"+name+".toml")
		for _, want := range []string{"/etc/deskport/" + name + ".toml does not exist", "/usr/share/doc/deskport-" + name + "/" + name + ".toml", "packaging/" + name + ".toml", "will not start"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: %q lacks %q", name, msg, want)
			}
		}
		if _, err := os.Stat(filepath.Join(root, "packaging", name+".toml")); err != nil {
			t.Errorf("the example it names: %v", err)
		}
	}
}
