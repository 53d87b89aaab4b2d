// Command build makes deskport's Linux packages (.deb and .rpm for the host, the viewer and
// the rendezvous) with nfpm used as a library. It is its own module so that nfpm's
// dependencies stay out of the product's go.mod. Run it from the repository:
//
//	go run -C packaging/build . -out ../../dist          (or: make packages)
//
// It builds the binaries with version information, writes the systemd units by running the
// built binaries' own `service install --system --root` (so the package ships exactly what
// `service install` writes), and derives each binary's runtime library dependencies from the
// shared objects it links (dpkg -S on the build machine for .deb, sonames for .rpm).
package main

import (
	"bytes"
	"debug/elf"

	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm"
)

const module = "github.com/deskport/deskport"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "packaging/build:", err)
		os.Exit(1)
	}
}

type pkg struct {
	name    string // binary role: host, viewer, rendezvous
	summary string
	cgo     bool
	unit    bool
	config  bool
	scripts bool
	extra   []string // debian packages it needs beyond its libraries
}

var pkgs = []pkg{
	{name: "host", summary: "deskport host agent: reach this machine's desktop and ports through a rendezvous, peer to peer", cgo: true, unit: true, config: true, scripts: true, extra: []string{"xvfb"}},
	{name: "viewer", summary: "deskport viewer: ssh-like port forwards, files and the desktop of a deskport host", cgo: true},
	{name: "rendezvous", summary: "deskport rendezvous: the signaling server where hosts wait and viewers find them", unit: true, config: true, scripts: true},
}

func run() error {
	out := flag.String("out", "dist", "directory for the packages")
	repo := flag.String("repo", "../..", "the deskport repository")
	ver := flag.String("version", "", "package version (default: git describe, or 0.0.0-dev)")
	formats := flag.String("formats", "deb,rpm", "package formats")
	only := flag.String("only", "", "comma-separated subset of host,viewer,rendezvous")
	archives := flag.String("archives", "linux/"+runtime.GOARCH+",darwin/amd64,darwin/arm64,windows/amd64", `release archives to build, as GOOS/GOARCH ("" for none); the Linux one is this machine's architecture, built with cgo like the packages, the others without (port forwarding and the service, no desktop)`)
	flag.Parse()

	root, err := filepath.Abs(*repo)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "host")); err != nil {
		return fmt.Errorf("-repo %s is not the deskport repository (%v)", root, err)
	}
	outDir, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	version, commit, date := describe(root, *ver)
	stage, err := os.MkdirTemp("", "deskport-pkg")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	for _, p := range pkgs {
		if *only != "" && !contains(strings.Split(*only, ","), p.name) {
			continue
		}
		bin := filepath.Join(stage, "deskport-"+p.name)
		if err := build(root, p, bin, version, commit, date); err != nil {
			return err
		}
		contents, err := contentsFor(root, stage, p, bin)
		if err != nil {
			return err
		}
		libs, err := sharedLibs(bin)
		if err != nil {
			return err
		}
		for _, f := range strings.Split(*formats, ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			path, err := packageOne(p, f, version, contents, libs, outDir, root)
			if err != nil {
				return fmt.Errorf("%s %s: %w", p.name, f, err)
			}
			fmt.Println(path)
		}
	}
	for _, target := range strings.Split(*archives, ",") {
		if target = strings.TrimSpace(target); target == "" {
			continue
		}
		goos, goarch, ok := strings.Cut(target, "/")
		if !ok {
			return fmt.Errorf("-archives %q: write GOOS/GOARCH, e.g. windows/amd64", target)
		}
		path, err := archive(root, stage, outDir, goos, goarch, version, commit, date)
		if err != nil {
			return fmt.Errorf("archive %s: %w", target, err)
		}
		fmt.Println(path)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.TrimSpace(v) == s {
			return true
		}
	}
	return false
}

// describe finds the version: -version, else `git describe`, else 0.0.0-dev.
func describe(root, ver string) (version, commit, date string) {
	git := func(args ...string) string {
		c := exec.Command("git", args...)
		c.Dir = root
		b, err := c.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	commit = git("rev-parse", "HEAD")
	date = git("log", "-1", "--format=%cI")
	if date == "" {
		date = time.Now().UTC().Format(time.RFC3339)
	}
	version = ver
	if version == "" {
		version = git("describe", "--tags", "--match", "v*", "--dirty")
	}
	if version == "" {
		version = "0.0.0-dev"
	}
	return strings.TrimPrefix(version, "v"), commit, date
}

func build(root string, p pkg, bin, version, commit, date string) error {
	return buildFor(root, p, bin, "linux", runtime.GOARCH, version, commit, date)
}

// buildFor builds p for goos/goarch. Only a native build links cgo (the desktop); a cross
// build is CGO_ENABLED=0: port forwarding, the service, no desktop.
func buildFor(root string, p pkg, bin, goos, goarch, version, commit, date string) error {
	ld := fmt.Sprintf("-s -w -X %[1]s/internal/version.version=v%[2]s -X %[1]s/internal/version.commit=%[3]s -X %[1]s/internal/version.date=%[4]s", module, version, commit, date)
	c := exec.Command("go", "build", "-trimpath", "-ldflags", ld, "-o", bin, "./cmd/"+p.name)
	c.Dir = root
	c.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch)
	if !p.cgo || goos != runtime.GOOS || goarch != runtime.GOARCH {
		c.Env = append(c.Env, "CGO_ENABLED=0")
	}
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/%s: %w", p.name, err)
	}
	return nil
}

// contentsFor lists what the package installs. The unit comes from the binary itself.
func contentsFor(root, stage string, p pkg, bin string) (files.Contents, error) {
	exe := "/usr/bin/deskport-" + p.name
	doc := "/usr/share/doc/deskport-" + p.name
	c := files.Contents{
		{Source: bin, Destination: exe, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
		{Source: filepath.Join(root, "README.md"), Destination: doc + "/README.md", Type: files.TypeFile},
	}
	if _, err := os.Stat(filepath.Join(root, "docs", "service.md")); err == nil {
		c = append(c, &files.Content{Source: filepath.Join(root, "docs", "service.md"), Destination: doc + "/service.md"})
	}
	comp, err := completions(stage, bin)
	if err != nil {
		return nil, err
	}
	c = append(c, comp...)
	if p.config {
		example := filepath.Join(root, "packaging", p.name+".toml")
		// The host's file may hold secrets an admin adds (a TURN credential): root and the
		// deskport group (postinst) read it. The rendezvous runs as a DynamicUser, which no
		// group can name in advance, and its file holds none (secrets are files of their own).
		mode := os.FileMode(0o640)
		if p.name == "rendezvous" {
			mode = 0o644
		}
		c = append(c,
			&files.Content{Source: example, Destination: "/etc/deskport/" + p.name + ".toml", Type: files.TypeConfigNoReplace, FileInfo: &files.ContentFileInfo{Mode: mode}},
			&files.Content{Source: example, Destination: doc + "/" + p.name + ".toml"})
	}
	if p.unit {
		sroot := filepath.Join(stage, p.name+"-root")
		args := []string{"service", "install", "--system", "--root", sroot, "--binary", "/usr/bin/deskport-" + p.name}
		if p.name == "rendezvous" {
			// The unit is written before anyone edits rendezvous.toml; the README's edit
			// (acme = [...]) makes it listen on :443 and :80, so the packaged unit may bind
			// ports below 1024 — its only capability.
			args = append(args, "--allow-privileged-ports")
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "HOME="+stage, "XDG_CONFIG_HOME="+stage)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s service install --root: %v\n%s", p.name, err, out)
		}
		unit := "deskport-" + p.name + ".service"
		c = append(c, &files.Content{Source: filepath.Join(sroot, "etc/systemd/system", unit), Destination: "/usr/lib/systemd/system/" + unit, FileInfo: &files.ContentFileInfo{Mode: 0o644}})
		if sys := filepath.Join(sroot, "etc/sysusers.d/deskport.conf"); exists(sys) {
			c = append(c, &files.Content{Source: sys, Destination: "/usr/lib/sysusers.d/deskport.conf", FileInfo: &files.ContentFileInfo{Mode: 0o644}})
		}
		if p.name == "host" {
			c = append(c, &files.Content{Destination: "/etc/deskport", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o755}})
		}
	}
	return c, nil
}

// completionPaths are where bash, zsh and fish look for a command's completion: the
// bash-completion package's directory (loaded on first use), zsh's vendor directory (Debian's
// name; Fedora's is site-functions) and fish's vendor directory.
var completionPaths = []struct{ shell, path, packager string }{
	{"bash", "/usr/share/bash-completion/completions/%s", ""},
	{"zsh", "/usr/share/zsh/vendor-completions/_%s", "deb"},
	{"zsh", "/usr/share/zsh/site-functions/_%s", "rpm"},
	{"fish", "/usr/share/fish/vendor_completions.d/%s.fish", ""},
}

// completions has the built binary write its completion scripts (`deskport-X completion
// SHELL`, generated from its real flags for the name it runs as) into the stage directory.
func completions(stage, bin string) (files.Contents, error) {
	name := filepath.Base(bin)
	var c files.Contents
	for _, cp := range completionPaths {
		out, err := exec.Command(bin, "completion", cp.shell).Output()
		if err != nil {
			return nil, fmt.Errorf("%s completion %s: %w", name, cp.shell, err)
		}
		src := filepath.Join(stage, name+"."+cp.shell+"-completion")
		if err := os.WriteFile(src, out, 0o644); err != nil {
			return nil, err
		}
		c = append(c, &files.Content{Source: src, Destination: fmt.Sprintf(cp.path, name), Packager: cp.packager, FileInfo: &files.ContentFileInfo{Mode: 0o644}})
	}
	return c, nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// sharedLibs lists the sonames bin links (none for a static binary).
func sharedLibs(bin string) ([]string, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, err
	}
	sort.Strings(libs)
	return libs, nil
}

// debDepends maps sonames to the Debian packages that hold them on this machine.
func debDepends(libs []string) ([]string, error) {
	seen := map[string]bool{}
	var deps []string
	for _, lib := range libs {
		path := findLib(lib)
		if path == "" {
			return nil, fmt.Errorf("cannot find %s on this machine to name its package", lib)
		}
		out, err := exec.Command("dpkg", "-S", path).Output()
		if err != nil {
			// Merged /usr: dpkg knows one of the /lib and /usr/lib spellings.
			alt := "/usr" + path
			if strings.HasPrefix(path, "/usr/") {
				alt = strings.TrimPrefix(path, "/usr")
			}
			if out, err = exec.Command("dpkg", "-S", alt).Output(); err != nil {
				return nil, fmt.Errorf("dpkg -S %s: no package holds it", path)
			}
		}
		name := strings.SplitN(strings.TrimSpace(string(out)), ":", 2)[0]
		if !seen[name] {
			seen[name] = true
			deps = append(deps, name)
		}
	}
	sort.Strings(deps)
	return deps, nil
}

func findLib(soname string) string {
	out, err := exec.Command("ldconfig", "-p").Output()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, soname+" ") && strings.Contains(line, "x86-64") == (runtime.GOARCH == "amd64") {
			if i := strings.Index(line, "=> "); i >= 0 {
				// dpkg -S wants the path the package installed: the soname link itself.
				return line[i+3:]
			}
		}
	}
	return ""
}

func packageOne(p pkg, format, version string, contents files.Contents, libs []string, outDir, root string) (string, error) {
	info := &nfpm.Info{
		Name:        "deskport-" + p.name,
		Arch:        runtime.GOARCH,
		Platform:    "linux",
		Version:     version,
		Section:     "net",
		Priority:    "optional",
		Maintainer:  "deskport developers <deskport@example.org>",
		Description: p.summary,
		Vendor:      "deskport",
		Homepage:    "https://github.com/deskport/deskport",
		License:     "see /usr/share/doc/deskport-" + p.name,
	}
	info.Contents = append(files.Contents(nil), contents...)
	switch format {
	case "deb":
		deps, err := debDepends(libs)
		if err != nil {
			return "", err
		}
		info.Depends = append(deps, p.extra...)
		if p.unit {
			info.Recommends = []string{"systemd"}
		}
	case "rpm":
		for _, l := range libs {
			if strings.HasPrefix(l, "libc.so") || strings.HasPrefix(l, "libm.so") || strings.HasPrefix(l, "libpthread") || strings.HasPrefix(l, "libdl") || strings.HasPrefix(l, "libresolv") {
				continue // glibc: rpm's own dependency generator would list these as well
			}
			info.Depends = append(info.Depends, l+"()(64bit)")
		}
		if p.name == "host" {
			info.Depends = append(info.Depends, "xorg-x11-server-Xvfb")
		}
	default:
		return "", fmt.Errorf("unknown format %q (deb or rpm)", format)
	}
	if p.scripts {
		dir := filepath.Join(root, "packaging", "scripts")
		info.Scripts = nfpm.Scripts{
			PostInstall: filepath.Join(dir, p.name+"-postinst.sh"),
			PreRemove:   filepath.Join(dir, p.name+"-prerm.sh"),
			PostRemove:  filepath.Join(dir, p.name+"-postrm.sh"),
		}
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return "", err
	}
	packager, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	name := packager.ConventionalFileName(info)
	var buf bytes.Buffer
	if err := packager.Package(info, &buf); err != nil {
		return "", err
	}
	path := filepath.Join(outDir, name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return "", err
	}
	return path, nil
}
