package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEForwardingHostSteps runs README's "Port forwarding in five minutes" host block as
// written, in a fresh home directory (a machine that never ran deskport), up to the command
// that starts the host: every step must succeed and leave the viewer's line in
// authorized_viewers. Appending to ~/.config/deskport/authorized_viewers before anything had
// made that directory failed.
func TestREADMEForwardingHostSteps(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)On the host \\(the machine behind NAT\\)[^\\n]*\\n\\n```sh\\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README's port forwarding section has no host block after \"On the host (the machine behind NAT)\"; update this test")
	}
	var steps []string
	for _, line := range strings.Split(string(m[1]), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "host --") { // the last one starts the host
			continue
		}
		steps = append(steps, line)
	}
	if len(steps) < 2 {
		t.Fatalf("README's host block has %d steps before starting the host: %q", len(steps), m[1])
	}
	home := t.TempDir()
	script := "set -e\n" + strings.Join(steps, "\n") + "\n"
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME=", "DESKPORT_CONFIG_DIR=", "PATH="+binDir+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("README's host steps in a fresh home:\n%s\nfailed: %v\n%s", script, err, out)
	}
	b, err := os.ReadFile(filepath.Join(home, ".config", "deskport", "authorized_viewers"))
	if err != nil || !strings.Contains(string(b), "viewer@laptop") {
		t.Errorf("authorized_viewers after README's steps: %q, %v", b, err)
	}
}
