package svcinstall

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"
)

// UnitPath is where the unit goes: /etc/systemd/system for the system, the user's
// $XDG_CONFIG_HOME/systemd/user otherwise.
func UnitPath(s Spec, o Options) (string, error) {
	if o.System {
		return filepath.Join("/etc/systemd/system", s.UnitName()+".service"), nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("cannot find your config directory (%v); set XDG_CONFIG_HOME", err)
	}
	return filepath.Join(dir, "systemd", "user", s.UnitName()+".service"), nil
}

// SysusersPath is where the SystemUser declaration goes for `install --system`.
const SysusersPath = "/etc/sysusers.d/deskport.conf"

func installNative(cmd *cobra.Command, s Spec, o Options) error {
	out := cmd.OutOrStdout()
	unitPath, err := UnitPath(s, o)
	if err != nil {
		return err
	}
	files := map[string]string{unitPath: SystemdUnit(s, o)}
	if o.System && !s.DynamicUser {
		files[SysusersPath] = SysusersConf()
	}
	for path, body := range files {
		dst := filepath.Join(o.Root, path)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, []byte(body), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w (the system service needs root)", dst, err)
		}
		fmt.Fprintf(out, "wrote %s\n", dst)
	}
	if o.Root != "" {
		return nil
	}
	if o.System && !s.DynamicUser {
		if err := run(out, "systemd-sysusers", SysusersPath); err != nil {
			return fmt.Errorf("creating the %s account: %w", SystemUser, err)
		}
	}
	if err := systemctl(out, o, "daemon-reload"); err != nil {
		return err
	}
	if err := systemctl(out, o, "enable", s.UnitName()); err != nil {
		return err
	}
	cfg := s.ConfigPath(o)
	if _, err := os.Stat(cfg); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintln(out, missingConfig(s, cfg))
	}
	fmt.Fprintf(out, "enabled %s; start it with `%s service start%s`\n", s.UnitName(), s.Name, flagFor(o))
	return nil
}

func flagFor(o Options) string {
	if o.System {
		return " --system"
	}
	return " --user"
}

func control(cmd *cobra.Command, s Spec, o Options, action string) error {
	out := cmd.OutOrStdout()
	unitPath, err := UnitPath(s, o)
	if err != nil {
		return err
	}
	if o.Root != "" {
		if action != "uninstall" {
			return fmt.Errorf("service %s: --root only stages files; there is no service to %s", action, action)
		}
		for _, p := range []string{unitPath, SysusersPath} {
			if err := os.Remove(filepath.Join(o.Root, p)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		return nil
	}
	unit := s.UnitName()
	switch action {
	case "start", "stop":
		return systemctl(out, o, action, unit)
	case "status":
		err := systemctl(out, o, "status", "--no-pager", unit)
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 {
			return nil // inactive: status printed it
		}
		return err
	case "uninstall":
		_ = systemctl(io.Discard, o, "disable", "--now", unit)
		if err := os.Remove(unitPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		fmt.Fprintf(out, "removed %s (the config in /etc/deskport and the state stay)\n", unitPath)
		return systemctl(out, o, "daemon-reload")
	}
	return fmt.Errorf("unknown action %q", action)
}

func systemctl(out io.Writer, o Options, args ...string) error {
	if _, err := exec.LookPath("systemctl"); err != nil {
		return fmt.Errorf("%w: systemctl not found", errNoManager)
	}
	if !o.System {
		args = append([]string{"--user"}, args...)
	}
	return run(out, "systemctl", args...)
}

func run(out io.Writer, name string, args ...string) error {
	c := exec.Command(name, args...)
	var stderr bytes.Buffer
	c.Stdout, c.Stderr = out, io.MultiWriter(out, &stderr)
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s %v: %w", name, args, err)
	}
	return nil
}
