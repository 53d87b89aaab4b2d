// Package version says which build of deskport is running: the module version, the commit,
// the build date and the Go version. Release builds set them with
// -ldflags "-X github.com/deskport/deskport/internal/version.version=v1.2.3 -X ...commit=... -X ...date=...";
// otherwise they come from the build information Go embeds (a `go install` or a build in a git
// checkout).
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set by the linker in release builds.
var (
	version string
	commit  string
	date    string
)

// Info is one build's identity.
type Info struct {
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
	Date    string `json:"date,omitempty"`
	Go      string `json:"go"`
	// Modified says the build's working tree had uncommitted changes.
	Modified bool `json:"modified,omitempty"`
}

// Get returns this build's Info.
func Get() Info {
	in := Info{Version: version, Commit: commit, Date: date, Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if in.Version == "" {
			in.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if in.Commit == "" {
					in.Commit = s.Value
				}
			case "vcs.time":
				if in.Date == "" {
					in.Date = s.Value
				}
			case "vcs.modified":
				in.Modified = s.Value == "true"
			}
		}
	}
	if in.Version == "" || in.Version == "(devel)" {
		in.Version = "devel"
	}
	if len(in.Commit) > 12 {
		in.Commit = in.Commit[:12]
	}
	return in
}

// String is the one line `--version` prints after the binary's name.
func (in Info) String() string {
	s := in.Version
	if in.Commit != "" {
		s += " commit " + in.Commit
		if in.Modified {
			s += "+dirty"
		}
	}
	if in.Date != "" {
		s += " built " + in.Date
	}
	return fmt.Sprintf("%s %s %s/%s", s, in.Go, runtime.GOOS, runtime.GOARCH)
}

// AddFlag gives cmd a --version flag that prints "<name> <Info>".
func AddFlag(cmd *cobra.Command) {
	cmd.Version = Get().String()
	cmd.SetVersionTemplate("{{.Name}} {{.Version}}\n")
}
