package completion_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/deskport/deskport/host"
	"github.com/deskport/deskport/internal/completion"
	"github.com/deskport/deskport/internal/rendezvouscmd"
	"github.com/deskport/deskport/viewer"
)

// commands are the three binaries' real command lines, by name.
var commands = map[string]func() *cobra.Command{
	"host":       host.NewCommand,
	"viewer":     viewer.NewCommand,
	"rendezvous": rendezvouscmd.NewCommand,
}

const runAs = "DESKPORT_COMPLETION_TEST_RUN"

// TestMain lets the test binary stand in for host, viewer and rendezvous: the completion
// scripts call the program back (`host __complete …`) to compute their answers.
func TestMain(m *testing.M) {
	if name := os.Getenv(runAs); name != "" {
		cmd := commands[name]()
		cmd.SetArgs(os.Args[1:])
		if err := cmd.Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// program writes an executable called name into dir that runs this test binary as that
// command, under that name (argv[0]), like an installed binary.
func program(t *testing.T, dir, cmdName, name string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	script := "#!/bin/bash\nexport " + runAs + "=" + cmdName + "\nexec -a \"$0\" " + self + " \"$@\"\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// bashCompletion is the bash-completion package's library, which the scripts use (as every
// completion installed under /usr/share/bash-completion/completions does).
const bashCompletion = "/usr/share/bash-completion/bash_completion"

// complete runs bash with the script sourced, sets COMP_WORDS to words (the last one is the
// word being completed) and returns what the completion function put in COMPREPLY.
func complete(t *testing.T, script, fn string, words ...string) []string {
	t.Helper()
	var quoted []string
	for _, w := range words {
		quoted = append(quoted, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
	}
	prog := `source ` + bashCompletion + ` || exit 1
source "$1" || exit 1
COMP_WORDS=(` + strings.Join(quoted, " ") + `)
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
COMP_TYPE=9
` + fn + `
printf '%s\n' "${COMPREPLY[@]}"
`
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c", prog, "bash", script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash completion of %q: %v\n%s", words, err, stderr.String())
	}
	var reply []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			reply = append(reply, l)
		}
	}
	return reply
}

// TestBashCompletes generates each binary's bash script the way the packages do (the binary
// run as deskport-NAME), sources it in bash and completes a subcommand, a flag and a flag of a
// subcommand through the real command lines.
func TestBashCompletes(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	if _, err := os.Stat(bashCompletion); err != nil {
		t.Skip("bash-completion is not installed (scripts/install-deps.sh installs it)")
	}
	for _, tc := range []struct {
		cmd   string
		words []string
		want  string
	}{
		{"host", []string{"ser"}, "service"},
		{"host", []string{"--drain-t"}, "--drain-timeout"},
		{"host", []string{"--allow-l"}, "--allow-listen"},
		{"host", []string{"service", "inst"}, "install"},
		{"host", []string{"service", "install", "--sys"}, "--system"},
		{"viewer", []string{"forw"}, "forward"},
		{"viewer", []string{"forward", "--relay-o"}, "--relay-only"},
		{"rendezvous", []string{"--acme-em"}, "--acme-email"},
		{"rendezvous", []string{"completion", "fi"}, "fish"},
	} {
		name := "deskport-" + tc.cmd
		t.Run(name+"_"+strings.Join(tc.words, "_"), func(t *testing.T) {
			dir := t.TempDir()
			prog := program(t, dir, tc.cmd, name)
			out, err := exec.Command(prog, "completion", "bash").Output()
			if err != nil {
				t.Fatalf("%s completion bash: %v", name, err)
			}
			if !bytes.Contains(out, []byte("complete -o default -F __start_"+name+" "+name)) {
				t.Fatalf("the script does not complete %s (the name it ran as)", name)
			}
			script := filepath.Join(dir, name+".bash")
			if err := os.WriteFile(script, out, 0o644); err != nil {
				t.Fatal(err)
			}
			got := complete(t, script, "__start_"+name, append([]string{prog}, tc.words...)...)
			// Flags come back with a trailing space or '=' depending on the type.
			for i := range got {
				got[i] = strings.TrimRight(got[i], " =")
			}
			if !slices.Contains(got, tc.want) {
				t.Errorf("completing %q offers %q, want %q among them", tc.words, got, tc.want)
			}
		})
	}
}

// TestScripts: every shell's script is generated for the name given and names the command's
// flags; zsh and fish check their syntax where they are installed.
func TestScripts(t *testing.T) {
	for name, newCmd := range commands {
		for _, shell := range completion.Shells {
			var b bytes.Buffer
			if err := completion.Write(newCmd(), shell, "deskport-"+name, &b); err != nil {
				t.Fatalf("%s %s: %v", name, shell, err)
			}
			if !strings.Contains(b.String(), "deskport-"+name) {
				t.Errorf("%s %s: the script does not name deskport-%s", name, shell, name)
			}
			check := map[string][]string{"bash": {"bash", "-n"}, "zsh": {"zsh", "-n"}, "fish": {"fish", "--no-execute"}}[shell]
			if check == nil {
				continue
			}
			if _, err := exec.LookPath(check[0]); err != nil {
				continue
			}
			f := filepath.Join(t.TempDir(), "script")
			os.WriteFile(f, b.Bytes(), 0o644)
			if out, err := exec.Command(check[0], append(check[1:], f)...).CombinedOutput(); err != nil {
				t.Errorf("%s %s: %s rejects the script: %v\n%s", name, shell, check[0], err, out)
			}
		}
	}
	if err := completion.Write(host.NewCommand(), "tcsh", "host", &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "bash, zsh, fish") {
		t.Errorf("an unknown shell: %v", err)
	}
	if err := completion.Write(host.NewCommand(), "bash", "a b", &bytes.Buffer{}); err == nil {
		t.Error("a name with a space was accepted")
	}
	if got := completion.ProgramName("/opt/deskport/host.exe"); got != "host" {
		t.Errorf("ProgramName = %q", got)
	}
	if got := completion.ProgramName("/usr/bin/deskport-host"); got != "deskport-host" {
		t.Errorf("ProgramName = %q", got)
	}
}
