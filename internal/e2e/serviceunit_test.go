package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// systemdAnalyze returns the path of systemd-analyze. Without it the unit tests skip only
// under -short: `make test` must check the units (scripts/install-deps.sh installs systemd).
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if testing.Short() {
			t.Skip("systemd-analyze not installed (scripts/install-deps.sh installs systemd)")
		}
		t.Fatal("systemd-analyze not installed: run scripts/install-deps.sh (package systemd)")
	}
	return p
}

func verifyUnit(t *testing.T, unit string, user bool) {
	t.Helper()
	args := []string{"verify", unit}
	cmd := exec.Command(systemdAnalyze(t), args...)
	if user {
		rt := t.TempDir()
		os.Chmod(rt, 0o700)
		cmd = exec.Command(systemdAnalyze(t), append([]string{"--user"}, args...)...)
		cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+rt)
	}
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantLines(t *testing.T, unit string, lines ...string) {
	t.Helper()
	have := map[string]bool{}
	for _, l := range strings.Split(unit, "\n") {
		have[l] = true
	}
	for _, l := range lines {
		if !have[l] {
			t.Errorf("the unit lacks %q:\n%s", l, unit)
		}
	}
}

func TestServiceInstallHostSystem(t *testing.T) {
	root := t.TempDir()
	out, err := run(t, "host", "service", "install", "--system", "--root", root, "--binary", bin("host"))
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	unitPath := filepath.Join(root, "etc/systemd/system/deskport-host.service")
	unit := readFile(t, unitPath)
	wantLines(t, unit,
		"Type=notify", "WatchdogSec=30s", "ExecReload=/bin/kill -HUP $MAINPID",
		"ExecStart="+bin("host")+" --config /etc/deskport/host.toml",
		"User=deskport", "StateDirectory=deskport", "ConfigurationDirectory=deskport",
		"NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
		"CapabilityBoundingSet=", "AmbientCapabilities=", "SystemCallFilter=@system-service",
		"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
		"TimeoutStopSec=20", "KillMode=mixed", "WantedBy=multi-user.target")
	if strings.Contains(unit, "CAP_NET_BIND_SERVICE") {
		t.Errorf("the host never listens below 1024, yet its unit grants CAP_NET_BIND_SERVICE")
	}
	verifyUnit(t, unitPath, false)
	if s := readFile(t, filepath.Join(root, "etc/sysusers.d/deskport.conf")); !strings.Contains(s, "u deskport ") {
		t.Errorf("sysusers.d lacks the deskport account: %q", s)
	}

	if out, err := run(t, "host", "service", "uninstall", "--system", "--root", root); err != nil {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	if _, err := os.Stat(unitPath); !os.IsNotExist(err) {
		t.Errorf("uninstall left %s (%v)", unitPath, err)
	}
}

func TestServiceInstallHostUser(t *testing.T) {
	root := t.TempDir()
	cmd := exec.Command(bin("host"), "service", "install", "--user", "--root", root, "--binary", bin("host"))
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME=/home/alice/.config")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	unitPath := filepath.Join(root, "home/alice/.config/systemd/user/deskport-host.service")
	unit := readFile(t, unitPath)
	wantLines(t, unit, "Type=notify", "PartOf=graphical-session.target", "WantedBy=graphical-session.target",
		"ExecStart="+bin("host")+" --config /home/alice/.config/deskport/host.toml", "NoNewPrivileges=yes")
	for _, l := range []string{"User=", "DynamicUser=", "ProtectSystem="} {
		if strings.Contains(unit, "\n"+l) {
			t.Errorf("a user unit has %s, which a user manager cannot apply", l)
		}
	}
	verifyUnit(t, unitPath, true)
}

func TestServiceInstallRendezvous(t *testing.T) {
	for _, tc := range []struct {
		listen string
		caps   bool
	}{{":443", true}, {"0.0.0.0:8443", false}, {"", false}} {
		t.Run(tc.listen, func(t *testing.T) {
			root := t.TempDir()
			if tc.listen != "" {
				os.MkdirAll(filepath.Join(root, "etc/deskport"), 0o755)
				os.WriteFile(filepath.Join(root, "etc/deskport/rendezvous.toml"), []byte("listen = \""+tc.listen+"\"\n"), 0o644)
			}
			out, err := run(t, "rendezvous", "service", "install", "--system", "--root", root, "--binary", bin("rendezvous"))
			if err != nil {
				t.Fatalf("install: %v\n%s", err, out)
			}
			unitPath := filepath.Join(root, "etc/systemd/system/deskport-rendezvous.service")
			unit := readFile(t, unitPath)
			wantLines(t, unit, "DynamicUser=yes", "StateDirectory=deskport-rendezvous", "ProtectSystem=strict", "NoNewPrivileges=yes")
			if got := strings.Contains(unit, "AmbientCapabilities=CAP_NET_BIND_SERVICE"); got != tc.caps {
				t.Errorf("listen %q: CAP_NET_BIND_SERVICE granted %v, want %v", tc.listen, got, tc.caps)
			}
			if _, err := os.Stat(filepath.Join(root, "etc/sysusers.d/deskport.conf")); err == nil {
				t.Errorf("the rendezvous runs as a DynamicUser; it needs no sysusers entry")
			}
			verifyUnit(t, unitPath, false)
		})
	}
}

// TestServiceInstallChecksConfig: install refuses a config file the service could not start
// with, naming the key and the line.
func TestServiceInstallChecksConfig(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/deskport"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/deskport/host.toml"), []byte("allow = [\"127.0.0.1:22\"]\nmax-streams = \"many\"\n"), 0o644)
	out, err := run(t, "host", "service", "install", "--system", "--root", root, "--binary", bin("host"))
	if err == nil {
		t.Fatalf("install accepted a broken config:\n%s", out)
	}
	for _, want := range []string{"host.toml:2", `"max-streams"`, "want an integer"} {
		if !strings.Contains(out, want) {
			t.Errorf("install's error lacks %q:\n%s", want, out)
		}
	}
}

// TestCheckConfigReadsFile: --check-config prints the policy from the file, and a flag wins.
func TestCheckConfigReadsFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "host.toml")
	os.WriteFile(cfg, []byte(`rendezvous = "https://rv.example.com"
key = "`+filepath.Join(dir, "host.key")+`"
authorized-viewers = "`+filepath.Join(dir, "none")+`"
code = true
allow = ["127.0.0.1:5432", "10.0.0.0/8:22"]
`), 0o600)
	out, err := run(t, "host", "--config", cfg, "--check-config", "--allow", "127.0.0.1:80")
	if err != nil {
		t.Fatalf("--check-config: %v\n%s", err, out)
	}
	for _, want := range []string{"https://rv.example.com", "one-time codes: on", "forward targets (--allow): 127.0.0.1:80"} {
		if !strings.Contains(out, want) {
			t.Errorf("--check-config output lacks %q:\n%s", want, out)
		}
	}
	os.WriteFile(cfg, []byte("code = true\nalow = []\n"), 0o600)
	out, err = run(t, "host", "--config", cfg, "--check-config")
	if err == nil || !strings.Contains(out, "host.toml:2") || !strings.Contains(out, `did you mean "allow"`) {
		t.Errorf("a typo in the file: err %v, output:\n%s", err, out)
	}
}

func TestVersionFlag(t *testing.T) {
	for _, name := range []string{"host", "viewer", "rendezvous"} {
		out, err := run(t, name, "--version")
		if err != nil {
			t.Errorf("%s --version: %v\n%s", name, err, out)
			continue
		}
		if !strings.HasPrefix(out, name+" ") || !strings.Contains(out, "go1.") {
			t.Errorf("%s --version printed %q, want \"%s <version> ... go1.x os/arch\"", name, out, name)
		}
	}
}
