package host

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRefuseDesktopFlags checks the refusal for every platform from any build: a Windows or
// macOS host refuses each desktop flag, from the command line or the config file, and names
// it; Linux takes them; flags that are not about the desktop pass everywhere.
func TestRefuseDesktopFlags(t *testing.T) {
	for _, goos := range []string{"linux", "windows", "darwin"} {
		for _, name := range append(append([]string{}, desktopFlags...), "allow", "no-desktop", "drain-timeout", "") {
			set := func(n string) bool { return n == name }
			err := refuseDesktopFlags(goos, set)
			desktop := name != "" && strings.Contains(" "+strings.Join(desktopFlags, " ")+" ", " "+name+" ")
			switch {
			case goos == "linux" || !desktop:
				if err != nil {
					t.Errorf("%s, --%s: %v", goos, name, err)
				}
			case !errors.Is(err, ErrDesktopUnsupported) || !strings.Contains(err.Error(), "--"+name) || !strings.Contains(err.Error(), goos):
				t.Errorf("%s, --%s: err = %v, want ErrDesktopUnsupported naming the flag and the platform", goos, name, err)
			}
		}
	}
	err := refuseDesktopFlags("windows", func(n string) bool { return n == "fps" || n == "display" })
	if err == nil || !strings.HasPrefix(err.Error(), "--display, --fps: ") {
		t.Errorf("two flags: %v", err)
	}
	if !DesktopSupported("linux") || DesktopSupported("windows") || DesktopSupported("darwin") {
		t.Error("DesktopSupported: only linux")
	}
}

// TestRefuseDesktopFlagsFromCommand runs the host's command line as a Windows or macOS host
// would decide: desktop flags from the command line and from the config file are refused with
// their names, and without them the host starts with the desktop off. The help says what
// works where.
func TestRefuseDesktopFlagsFromCommand(t *testing.T) {
	if !strings.Contains(strings.Join(strings.Fields(NewCommand().Long), " "), "On Windows and macOS it forwards ports") {
		t.Errorf("host --help does not say what works on Windows and macOS:\n%s", NewCommand().Long)
	}
	for _, goos := range []string{"windows", "darwin"} {
		dir := t.TempDir()
		t.Setenv("HOME", dir)
		t.Setenv("XDG_CONFIG_HOME", dir)
		t.Setenv("DESKPORT_CONFIG_DIR", t.TempDir()) // no default file (not /etc/deskport, as root)
		cfg := filepath.Join(dir, "host.toml")
		if err := os.WriteFile(cfg, []byte("fps = 10\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		base := []string{"--key", filepath.Join(dir, "host.key"), "--authorized-viewers", filepath.Join(dir, "authorized_viewers"),
			"--audit-log", "", "--files-root", "", "--code", "--rendezvous", "http://127.0.0.1:1", "--check-config", "--quiet"}
		old := hostOS
		hostOS = goos
		t.Cleanup(func() { hostOS = old })

		cmd := NewCommand()
		cmd.SetArgs(append([]string{"--config", cfg, "--codec", "h264"}, base...))
		var out strings.Builder
		cmd.SetOut(&out)
		err := cmd.Execute()
		if !errors.Is(err, ErrDesktopUnsupported) || !strings.Contains(err.Error(), "--codec, --fps") {
			t.Errorf("%s: desktop flags from the command line and the file: err = %v", goos, err)
		}
		if _, statErr := os.Stat(filepath.Join(dir, "host.key")); statErr == nil {
			t.Errorf("%s: the refusal came after the host set itself up (a key was created)", goos)
		}

		cmd = NewCommand()
		cmd.SetArgs(base)
		out.Reset()
		cmd.SetOut(&out)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%s: a port-forwarding host: %v\n%s", goos, err, out.String())
		}
		if !strings.Contains(out.String(), "desktop:        off (not available on "+goos+" yet)") {
			t.Errorf("%s: the host offers a desktop:\n%s", goos, out.String())
		}
	}
}
