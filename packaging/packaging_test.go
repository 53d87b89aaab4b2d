// Package packaging holds what installs deskport: the example configs, the maintainer scripts,
// the container file for the rendezvous and, in build/ (its own module), the program that makes
// the .deb and .rpm packages. This test builds the rendezvous's packages and checks them.
package packaging

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/deskport/deskport/host"
	"github.com/deskport/deskport/internal/configfile"
	"github.com/deskport/deskport/internal/promtest"
	"github.com/deskport/deskport/internal/rendezvouscmd"
	"github.com/deskport/deskport/rendezvous"
)

// TestExampleConfigs: the shipped configs parse against the real commands' flags.
func TestExampleConfigs(t *testing.T) {
	if _, err := configfile.Read("host.toml", host.NewCommand().Flags()); err != nil {
		t.Error(err)
	}
	if _, err := configfile.Read("rendezvous.toml", rendezvouscmd.NewCommand().Flags()); err != nil {
		t.Error(err)
	}
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (scripts/install-deps.sh installs it)", tool)
		}
	}
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestRendezvousPackages takes the rendezvous's .deb and .rpm (built once with the others),
// checks the .deb's control fields and contents with dpkg-deb, unpacks it into a staging root
// and runs what it installed: the binary's --version, the unit through systemd-analyze verify,
// the config through the binary's own parser.
func TestRendezvousPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds packages")
	}
	need(t, "dpkg-deb", "systemd-analyze")
	out := packages(t)
	deb := filepath.Join(out, "deskport-rendezvous_1.2.3_amd64.deb")
	rpm := filepath.Join(out, "deskport-rendezvous-1.2.3-1.x86_64.rpm")
	for _, p := range []string{deb, rpm} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("missing package: %v", err)
		}
	}

	fields := sh(t, "dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Recommends")
	for _, want := range []string{"Package: deskport-rendezvous", "Version: 1.2.3", "Architecture: amd64", "Recommends: systemd"} {
		if !strings.Contains(fields, want) {
			t.Errorf("control fields lack %q:\n%s", want, fields)
		}
	}
	if deps := sh(t, "dpkg-deb", "-f", deb, "Depends"); strings.TrimSpace(deps) != "" {
		t.Errorf("the static rendezvous depends on %q", deps)
	}
	list := sh(t, "dpkg-deb", "-c", deb)
	for _, want := range []string{"./usr/bin/deskport-rendezvous", "./usr/lib/systemd/system/deskport-rendezvous.service", "./etc/deskport/rendezvous.toml"} {
		if !strings.Contains(list, want) {
			t.Errorf("the .deb lacks %s:\n%s", want, list)
		}
	}
	if conf := sh(t, "dpkg-deb", "-I", deb, "conffiles"); !strings.Contains(conf, "/etc/deskport/rendezvous.toml") {
		t.Errorf("the config is not a conffile (an upgrade would overwrite edits): %q", conf)
	}

	root := t.TempDir()
	sh(t, "dpkg-deb", "-x", deb, root)
	bin := filepath.Join(root, "usr/bin/deskport-rendezvous")
	if v := sh(t, bin, "--version"); !strings.HasPrefix(v, "rendezvous v1.2.3 commit ") {
		t.Errorf("--version of the packaged binary: %q", v)
	}
	if _, err := configfile.Read(filepath.Join(root, "etc/deskport/rendezvous.toml"), rendezvouscmd.NewCommand().Flags()); err != nil {
		t.Errorf("the packaged config: %v", err)
	}
	// The unit names /usr/bin/deskport-rendezvous, which is not installed on this machine:
	// verify a copy that points at the unpacked binary.
	unit, err := os.ReadFile(filepath.Join(root, "usr/lib/systemd/system/deskport-rendezvous.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/bin/deskport-rendezvous --config /etc/deskport/rendezvous.toml\n") || !strings.Contains(string(unit), "DynamicUser=yes") {
		t.Errorf("the packaged unit:\n%s", unit)
	}
	check := filepath.Join(t.TempDir(), "deskport-rendezvous.service")
	os.WriteFile(check, []byte(strings.ReplaceAll(string(unit), "/usr/bin/deskport-rendezvous", bin)), 0o644)
	if b, err := exec.Command("systemd-analyze", "verify", check).CombinedOutput(); err != nil || len(b) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, b)
	}

	if _, err := exec.LookPath("rpm"); err == nil {
		info := sh(t, "rpm", "-qp", "--queryformat", "%{NAME} %{VERSION}\n", rpm)
		if !strings.HasPrefix(info, "deskport-rendezvous 1.2.3") {
			t.Errorf("rpm -qp: %q", info)
		}
		files := sh(t, "rpm", "-qlp", rpm)
		for _, want := range []string{"/usr/lib/systemd/system/deskport-rendezvous.service", "/usr/share/zsh/site-functions/_deskport-rendezvous", "/usr/share/bash-completion/completions/deskport-rendezvous"} {
			if !strings.Contains(files, want) {
				t.Errorf("the .rpm lacks %s:\n%s", want, files)
			}
		}
	}
}

// TestGrafanaDashboard: every deskport series the dashboard queries is one that a real
// rendezvous (with its Redis series on) or a real host exports, or, for the TURN relay's,
// one docs/metrics.md lists; and every exported series is documented there.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("grafana/deskport.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana/deskport.json: %v", err)
	}
	docs, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}

	exported := map[string]bool{}
	rv, err := rendezvous.New(rendezvous.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer rv.Close()
	rv.Metrics().EnableRedis()
	fams, err := rv.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		exported[f.GetName()] = true
	}
	a, err := host.New(host.Config{Rendezvous: "http://127.0.0.1:1", KeyPath: filepath.Join(t.TempDir(), "host.key"),
		Desktop: host.DesktopConfig{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a.MetricsHandler())
	defer hs.Close()
	for name := range promtest.Get(t, hs.URL) {
		exported[name] = true
	}
	for name := range exported {
		if strings.HasPrefix(name, "deskport_") && !bytes.Contains(docs, []byte("`"+name+"`")) {
			t.Errorf("%s is exported but docs/metrics.md does not list it", name)
		}
	}

	series := regexp.MustCompile(`\b(deskport|process|go)_[a-z0-9_]+`)
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, name := range series.FindAllString(tg.Expr, -1) {
				n++
				base := name
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(name, suffix); ok && exported[b] {
						base = b
					}
				}
				switch {
				case exported[base]:
				case strings.HasPrefix(base, "deskport_rendezvous_turn_") && bytes.Contains(docs, []byte("`"+base+"`")):
				default:
					t.Errorf("panel %q queries %s, which nothing exports", p.Title, name)
				}
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d series in the dashboard", n)
	}
}
