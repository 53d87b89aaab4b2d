// Package configfile gives a deskport command a TOML configuration file whose keys are the
// command's long flags: `allow = ["127.0.0.1:22"]` in host.toml means `--allow 127.0.0.1:22`.
// It works over the cobra FlagSet rather than over a struct, so a flag added to a command is a
// key of its file without further work. Flags given on the command line win over the file.
//
// The file is strict: a key that is not a flag, a value of the wrong type, a table or a
// dotted key is an error that names the file, the line and the key, because a typo in a
// service's configuration should stop the start, not be ignored.
package configfile

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// ErrInvalid is wrapped by every error about the content of a file (as opposed to reading it).
var ErrInvalid = errors.New("invalid configuration file")

// notKeys are flags that make no sense inside the file.
var notKeys = map[string]bool{"config": true, "help": true, "version": true}

// Setting is one key of a file.
type Setting struct {
	Key    string
	Line   int
	Values []string // one element for a scalar, one per element for an array
	Array  bool
}

// File is a parsed configuration file.
type File struct {
	Path     string
	Settings []Setting
}

// Lookup returns the values of key and whether the file sets it.
func (f *File) Lookup(key string) ([]string, bool) {
	if f == nil {
		return nil, false
	}
	for _, s := range f.Settings {
		if s.Key == key {
			return s.Values, true
		}
	}
	return nil, false
}

// Read parses the file at path and checks every key against fs: each must name a long flag of
// fs and carry a value of that flag's type. Nothing is set.
func Read(path string, fs *pflag.FlagSet) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	return Parse(path, data, fs)
}

// Parse is Read on bytes already read; path only names the file in errors.
func Parse(path string, data []byte, fs *pflag.FlagSet) (*File, error) {
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, _ := de.Position()
			return nil, fmt.Errorf("%w: %s:%d: %s", ErrInvalid, path, row, de.Error())
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, path, err)
	}
	lines, err := keyLines(path, data)
	if err != nil {
		return nil, err
	}
	f := &File{Path: path}
	for key, v := range doc {
		line := lines[key]
		where := fmt.Sprintf("%s:%d: key %q", path, line, key)
		fl := fs.Lookup(key)
		if fl == nil || notKeys[key] {
			return nil, fmt.Errorf("%w: %s is not a setting of this command%s; the keys are its long flags (see --help)", ErrInvalid, where, suggest(key, fs))
		}
		s, err := convert(fl, v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, where, err)
		}
		s.Key, s.Line = key, line
		// Check the value now, on a scratch copy of the flag where possible, so a bad value is
		// reported with its line rather than later by the flag.
		if err := checkValue(fl, s); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, where, err)
		}
		f.Settings = append(f.Settings, s)
	}
	sort.Slice(f.Settings, func(i, j int) bool { return f.Settings[i].Line < f.Settings[j].Line })
	return f, nil
}

// keyLines maps each top-level key to its line and refuses tables and dotted keys: a command's
// flags are flat.
func keyLines(path string, data []byte) (map[string]int, error) {
	lines := map[string]int{}
	var p unstable.Parser
	p.Reset(data)
	for p.NextExpression() {
		e := p.Expression()
		line := p.Shape(e.Raw).Start.Line
		switch e.Kind {
		case unstable.KeyValue:
			it := e.Key()
			var parts []string
			for it.Next() {
				parts = append(parts, string(it.Node().Data))
			}
			if len(parts) != 1 {
				return nil, fmt.Errorf("%w: %s:%d: key %q: dotted keys are not used; write the flag's name, e.g. %q", ErrInvalid, path, line, strings.Join(parts, "."), parts[len(parts)-1])
			}
			lines[parts[0]] = line
		case unstable.Table, unstable.ArrayTable:
			it := e.Key()
			var parts []string
			for it.Next() {
				if len(parts) == 0 && len(it.Node().Data) > 0 {
					// A table's own Raw is empty; its key's bytes are part of the input.
					line = lineOf(&p, it.Node().Data, line)
				}
				parts = append(parts, string(it.Node().Data))
			}
			return nil, fmt.Errorf("%w: %s:%d: table [%s]: the file has no sections; put every key at the top", ErrInvalid, path, line, strings.Join(parts, "."))
		}
	}
	if err := p.Error(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, path, err)
	}
	return lines, nil
}

// lineOf is the line of b when it is a slice of the parser's input (an unquoted or plain
// quoted key), else fallback: a key with escapes is a fresh copy, which Range refuses by
// panicking.
func lineOf(p *unstable.Parser, b []byte, fallback int) (line int) {
	defer func() {
		if recover() != nil {
			line = fallback
		}
	}()
	return p.Shape(p.Range(b)).Start.Line
}

// convert turns a TOML value into the strings the flag's Set takes, refusing a type the flag
// does not hold.
func convert(fl *pflag.Flag, v any) (Setting, error) {
	typ := fl.Value.Type()
	if _, isSlice := fl.Value.(pflag.SliceValue); isSlice || strings.HasSuffix(typ, "Slice") || strings.HasSuffix(typ, "Array") {
		arr, ok := v.([]any)
		if !ok {
			return Setting{}, fmt.Errorf("want a list (%s = [%s]), got %s", fl.Name, example(elemType(typ)), tomlType(v))
		}
		s := Setting{Array: true}
		for i, e := range arr {
			str, err := scalar(elemType(typ), e)
			if err != nil {
				return Setting{}, fmt.Errorf("element %d: %v", i+1, err)
			}
			s.Values = append(s.Values, str)
		}
		return s, nil
	}
	str, err := scalar(typ, v)
	if err != nil {
		return Setting{}, err
	}
	return Setting{Values: []string{str}}, nil
}

func elemType(typ string) string {
	typ = strings.TrimSuffix(strings.TrimSuffix(typ, "Slice"), "Array")
	if typ == "" {
		return "string"
	}
	return typ
}

func scalar(typ string, v any) (string, error) {
	switch typ {
	case "bool":
		if b, ok := v.(bool); ok {
			return strconv.FormatBool(b), nil
		}
		return "", fmt.Errorf("want true or false, got %s", tomlType(v))
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "count":
		if n, ok := v.(int64); ok {
			return strconv.FormatInt(n, 10), nil
		}
		return "", fmt.Errorf("want an integer, got %s", tomlType(v))
	case "float32", "float64":
		switch n := v.(type) {
		case float64:
			if math.IsNaN(n) || math.IsInf(n, 0) {
				return "", fmt.Errorf("want a finite number")
			}
			return strconv.FormatFloat(n, 'g', -1, 64), nil
		case int64:
			return strconv.FormatInt(n, 10), nil
		}
		return "", fmt.Errorf("want a number, got %s", tomlType(v))
	case "duration":
		if s, ok := v.(string); ok {
			return s, nil
		}
		return "", fmt.Errorf("want a duration in quotes such as \"10s\" or \"1m30s\", got %s", tomlType(v))
	default: // string and every custom flag type: its Set parses text
		if s, ok := v.(string); ok {
			return s, nil
		}
		return "", fmt.Errorf("want a string in quotes, got %s", tomlType(v))
	}
}

func checkValue(fl *pflag.Flag, s Setting) error {
	if fl.Value.Type() == "duration" {
		if _, err := time.ParseDuration(s.Values[0]); err != nil {
			return fmt.Errorf("want a duration such as \"10s\": %v", err)
		}
	}
	return nil
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

func example(typ string) string {
	switch typ {
	case "int", "int64", "uint":
		return "1, 2"
	default:
		return `"…"`
	}
}

// suggest names the flag closest to a mistyped key.
func suggest(key string, fs *pflag.FlagSet) string {
	best, bestD := "", 3
	fs.VisitAll(func(f *pflag.Flag) {
		if notKeys[f.Name] {
			return
		}
		if d := distance(key, f.Name); d < bestD {
			best, bestD = f.Name, d
		}
	})
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Apply sets every flag the file names that the command line did not set. A value the flag
// refuses is reported with its line.
func (f *File) Apply(fs *pflag.FlagSet) error {
	for _, s := range f.Settings {
		fl := fs.Lookup(s.Key)
		if fl == nil || fl.Changed {
			continue
		}
		var err error
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			err = sv.Replace(s.Values)
		} else {
			for _, v := range s.Values {
				if err = fl.Value.Set(v); err != nil {
					break
				}
			}
		}
		if err != nil {
			return fmt.Errorf("%w: %s:%d: key %q: %v", ErrInvalid, f.Path, s.Line, s.Key, err)
		}
	}
	return nil
}

// systemDir is where root's default files are. It is a variable so that a test running as
// root can point it at a temporary directory rather than write to /etc.
var systemDir = "/etc/deskport"

// DirEnv names the environment variable that, when set, is the directory searched instead of
// the defaults. Tests set it so that the binaries they run as root do not read a real
// /etc/deskport (another test may install the packages meanwhile).
const DirEnv = "DESKPORT_CONFIG_DIR"

// DefaultPath is where a command looks for its file when --config is not given:
// $DESKPORT_CONFIG_DIR/<name>.toml when that is set, /etc/deskport/<name>.toml for root (a
// system service), else $XDG_CONFIG_HOME/deskport/<name>.toml (normally ~/.config/deskport).
func DefaultPath(name string) string { return defaultPath(name, os.Geteuid() == 0) }

func defaultPath(name string, root bool) string {
	if dir := os.Getenv(DirEnv); dir != "" {
		return filepath.Join(dir, name+".toml")
	}
	if root {
		return filepath.Join(systemDir, name+".toml")
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "deskport", name+".toml")
}

// Binding is a command's configuration file after the command line was parsed.
type Binding struct {
	name        string
	path        string
	explicit    bool
	commandLine map[string]bool
	file        *File
}

// Bind adds --config to cmd and, before cmd runs, reads the file and applies it under the
// flags given on the command line. name is the binary's name in the default path
// (DefaultPath). A missing default file is no error; a missing file named by --config is.
func Bind(cmd *cobra.Command, name string) *Binding {
	b := &Binding{name: name}
	cmd.Flags().StringVar(&b.path, "config", "", fmt.Sprintf("configuration file: TOML, every key a long flag (default %s if present)", displayDefault(name)))
	prev := cmd.PreRunE
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if err := b.load(cmd.Flags()); err != nil {
			return err
		}
		if prev != nil {
			return prev(cmd, args)
		}
		return nil
	}
	return b
}

func displayDefault(name string) string {
	return "$XDG_CONFIG_HOME/deskport/" + name + ".toml, or /etc/deskport/" + name + ".toml as root; $" + DirEnv + " replaces the directory"
}

func (b *Binding) load(fs *pflag.FlagSet) error {
	b.commandLine = map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { b.commandLine[f.Name] = true })
	b.explicit = b.path != ""
	if !b.explicit {
		b.path = DefaultPath(b.name)
		if b.path == "" {
			return nil
		}
		if _, err := os.Stat(b.path); errors.Is(err, os.ErrNotExist) {
			b.path = ""
			return nil
		}
	}
	f, err := Read(b.path, fs)
	if err != nil {
		return err
	}
	b.file = f
	return f.Apply(fs)
}

// Path is the file in use, or "" when there is none.
func (b *Binding) Path() string { return b.path }

// File is the file as read at start.
func (b *Binding) File() *File { return b.file }

// FromCommandLine reports whether the flag was given on the command line (and so wins over the
// file, also on a reload).
func (b *Binding) FromCommandLine(name string) bool { return b.commandLine[name] }

// Reread reads the file again, checked against fs, for a reload. It returns nil, nil when the
// command runs without a file.
func (b *Binding) Reread(fs *pflag.FlagSet) (*File, error) {
	if b.path == "" {
		return nil, nil
	}
	return Read(b.path, fs)
}
