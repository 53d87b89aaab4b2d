package viewer

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// ttyPipe is a terminal on pipes: what the viewer prints, and what the person types.
type ttyPipe struct {
	io.Reader
	io.Writer
}

func (ttyPipe) Close() error { return nil }

func TestOneTimeCodeSources(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == CodeEnv {
				return v
			}
			return ""
		}
	}
	noTTY := func() (io.ReadWriteCloser, error) { return nil, errors.New("no such device") }
	for _, tc := range []struct {
		name    string
		flagSet bool
		flag    string
		env     string
		typed   string
		want    string
		wantErr string
	}{
		{"flag", true, "abcd_efgh", "ignored_env", "", "abcd_efgh", ""},
		{"environment", false, "", "env_code", "", "env_code", ""},
		{"none", false, "", "", "", "", ""},
		{"flag asks", true, "-", "", "typed_code\n", "typed_code", ""},
		{"environment asks", false, "", "-", "  typed_code  \n", "typed_code", ""},
		{"nothing typed", true, "-", "", "\n", "", "no code typed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var shown strings.Builder
			tty := func() (io.ReadWriteCloser, error) {
				return ttyPipe{bufio.NewReader(strings.NewReader(tc.typed)), &shown}, nil
			}
			got, err := oneTimeCode(tc.flagSet, tc.flag, env(tc.env), tty)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("oneTimeCode = %q, %v; want %q", got, err, tc.want)
			}
			if tc.typed != "" && !strings.Contains(shown.String(), "one-time code") {
				t.Errorf("the prompt was %q", shown.String())
			}
		})
	}
	if _, err := oneTimeCode(true, "-", env(""), noTTY); err == nil || !strings.Contains(err.Error(), CodeEnv) {
		t.Errorf("no terminal: %v, want a hint to use $%s", err, CodeEnv)
	}
}

// TestCodeFromEnvironmentThroughCommand: the real command line picks the code up from the
// environment, and the flag wins over it.
func TestCodeFromEnvironmentThroughCommand(t *testing.T) {
	t.Setenv(CodeEnv, "from_env")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"abcdefghijklmnopqrstuvwx"}, "from_env"},
		{[]string{"abcdefghijklmnopqrstuvwx", "--code", "from_flag"}, "from_flag"},
	} {
		var got string
		cmd := withHost(&cobra.Command{Use: "x HOSTID", Args: cobra.ExactArgs(1)}, func(_ *cobra.Command, cfg Config, _ []string) error {
			got = cfg.Code
			return nil
		})
		cmd.SetArgs(tc.args)
		cmd.SetErr(io.Discard)
		if err := cmd.Execute(); err != nil || got != tc.want {
			t.Errorf("%v: code %q, %v; want %q", tc.args, got, err, tc.want)
		}
	}
}
