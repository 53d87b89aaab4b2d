// Package completion gives a deskport command a `completion bash|zsh|fish|powershell`
// subcommand that prints a shell completion script generated from the command's real flags and
// subcommands (cobra's generators), so a flag added later completes with no further work.
//
// A shell attaches a completion to the name typed, so the script is written for the name the
// binary was run as: deskport-host when the packages installed it, host when built from
// source. The packages generate their files this way at build time.
package completion

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// Shells are the shells a script can be generated for.
var Shells = []string{"bash", "zsh", "fish", "powershell"}

// Add replaces cobra's default completion command of root with one that writes scripts for
// the name the binary runs under (--name overrides it).
func Add(root *cobra.Command) {
	root.CompletionOptions.DisableDefaultCmd = true
	var name string
	cmd := &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script for this command",
		Long: `completion prints a script that completes this command's subcommands and flags.
The packages install one for bash, zsh and fish; to load one by hand:

  bash:  source <(` + root.Name() + ` completion bash)
  zsh:   ` + root.Name() + ` completion zsh > "${fpath[1]}/_` + root.Name() + `"
  fish:  ` + root.Name() + ` completion fish > ~/.config/fish/completions/` + root.Name() + `.fish

The script completes the name the binary was run as; --name sets another.`,
		Args:                  cobra.ExactArgs(1),
		ValidArgs:             Shells,
		DisableFlagsInUseLine: true,
		SilenceUsage:          true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				name = ProgramName(os.Args[0])
			}
			return Write(root, args[0], name, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the command name to complete (default: the name this binary was run as)")
	root.AddCommand(cmd)
}

// ProgramName is the command name of a path to a binary: its base name without ".exe".
func ProgramName(arg0 string) string {
	base := filepath.Base(arg0)
	return strings.TrimSuffix(base, ".exe")
}

// Write writes root's completion script for shell, completing the command name.
func Write(root *cobra.Command, shell, name string, w io.Writer) error {
	if name == "" || strings.ContainsAny(name, " \t\n'\"$`\\/;&|<>()") {
		return fmt.Errorf("completion: %q is not a command name to complete", name)
	}
	// cobra names the script's functions and its `complete` line after the root command's
	// name, which comes from Use.
	saved := root.Use
	root.Use = name
	defer func() { root.Use = saved }()
	switch shell {
	case "bash":
		return root.GenBashCompletionV2(w, true)
	case "zsh":
		return root.GenZshCompletion(w)
	case "fish":
		return root.GenFishCompletion(w, true)
	case "powershell":
		return root.GenPowerShellCompletionWithDesc(w)
	}
	return fmt.Errorf("completion: no shell %q: give one of %s", shell, strings.Join(Shells, ", "))
}
