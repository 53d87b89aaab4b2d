// Package logflags gives every deskport command the same logging flags (--verbose, --log-format)
// and builds the slog.Logger they describe, writing to stderr so stdout stays for data (stdio
// mode) and for what a person must read.
package logflags

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"
)

// Flags are the logging settings of one command.
type Flags struct {
	Verbose bool
	Quiet   bool
	Format  string
}

// Register adds the flags to fs.
func (f *Flags) Register(fs *pflag.FlagSet) {
	fs.BoolVarP(&f.Verbose, "verbose", "v", false, "log debug detail (ICE, DTLS, streams)")
	fs.BoolVarP(&f.Quiet, "quiet", "q", false, "log only warnings and errors")
	fs.StringVar(&f.Format, "log-format", "text", "log format: text or json")
}

// Logger builds the logger the flags describe.
func (f *Flags) Logger(w io.Writer) (*slog.Logger, error) {
	level := slog.LevelInfo
	if f.Verbose {
		level = slog.LevelDebug
	} else if f.Quiet {
		level = slog.LevelWarn
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: journalAttrs()}
	switch f.Format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: use text or json", f.Format)
	}
}

// ConfigPath returns the default path of a file in deskport's configuration directory
// ($XDG_CONFIG_HOME/deskport, normally ~/.config/deskport).
func ConfigPath(name string) string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return name
	}
	return filepath.Join(dir, "deskport", name)
}

// Rendezvous is the default --rendezvous value: $DESKPORT_RENDEZVOUS.
func Rendezvous() string { return os.Getenv("DESKPORT_RENDEZVOUS") }
