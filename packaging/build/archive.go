package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// archive builds the release archive for goos/goarch: deskport-VERSION-GOOS-GOARCH.tar.gz
// (.zip for Windows) holding one directory with the three binaries, the README, the licence,
// docs/service.md, the example configs and the completion scripts.
func archive(root, stage, outDir, goos, goarch, version, commit, date string) (string, error) {
	base := fmt.Sprintf("deskport-%s-%s-%s", version, goos, goarch)
	exe := ""
	if goos == "windows" {
		exe = ".exe"
	}
	type entry struct {
		name string // inside the archive's directory
		src  string
		mode os.FileMode
	}
	var entries []entry
	dir := filepath.Join(stage, base)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for _, p := range pkgs {
		bin := filepath.Join(dir, "deskport-"+p.name+exe)
		if err := buildFor(root, p, bin, goos, goarch, version, commit, date); err != nil {
			return "", err
		}
		entries = append(entries, entry{filepath.Base(bin), bin, 0o755})
		// The scripts come from this machine's build of the same command line (a cross-built
		// binary cannot run here); they are the same for every platform.
		native := filepath.Join(stage, "native", "deskport-"+p.name)
		if _, err := os.Stat(native); err != nil {
			if err := buildFor(root, p, native, runtime.GOOS, runtime.GOARCH, version, commit, date); err != nil {
				return "", err
			}
		}
		shells := [][2]string{{"bash", "deskport-%s.bash"}, {"zsh", "_deskport-%s"}, {"fish", "deskport-%s.fish"}}
		if goos == "windows" {
			shells = [][2]string{{"powershell", "deskport-%s.ps1"}}
		}
		for _, sh := range shells {
			shell, pattern := sh[0], sh[1]
			out, err := exec.Command(native, "completion", shell, "--name", "deskport-"+p.name).Output()
			if err != nil {
				return "", fmt.Errorf("deskport-%s completion %s: %w", p.name, shell, err)
			}
			src := filepath.Join(dir, fmt.Sprintf(pattern, p.name))
			if err := os.WriteFile(src, out, 0o644); err != nil {
				return "", err
			}
			entries = append(entries, entry{"completion/" + filepath.Base(src), src, 0o644})
		}
	}
	for _, f := range []struct{ name, src string }{
		{"README.md", "README.md"}, {"LICENSE", "LICENSE"}, {"docs/service.md", "docs/service.md"},
		{"examples/host.toml", "packaging/host.toml"}, {"examples/rendezvous.toml", "packaging/rendezvous.toml"},
	} {
		entries = append(entries, entry{f.name, filepath.Join(root, f.src), 0o644})
	}

	mtime, err := time.Parse(time.RFC3339, date)
	if err != nil {
		mtime = time.Now()
	}
	if goos == "windows" {
		path := filepath.Join(outDir, base+".zip")
		f, err := os.Create(path)
		if err != nil {
			return "", err
		}
		zw := zip.NewWriter(f)
		for _, e := range entries {
			h := &zip.FileHeader{Name: base + "/" + e.name, Method: zip.Deflate, Modified: mtime}
			h.SetMode(e.mode)
			w, err := zw.CreateHeader(h)
			if err == nil {
				err = copyFile(w, e.src)
			}
			if err != nil {
				f.Close()
				return "", err
			}
		}
		if err := zw.Close(); err != nil {
			f.Close()
			return "", err
		}
		return path, f.Close()
	}
	path := filepath.Join(outDir, base+".tar.gz")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		st, err := os.Stat(e.src)
		if err != nil {
			f.Close()
			return "", err
		}
		h := &tar.Header{Name: base + "/" + e.name, Mode: int64(e.mode), Size: st.Size(), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		err = tw.WriteHeader(h)
		if err == nil {
			err = copyFile(tw, e.src)
		}
		if err != nil {
			f.Close()
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return "", err
	}
	if err := gz.Close(); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}

func copyFile(w io.Writer, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}
