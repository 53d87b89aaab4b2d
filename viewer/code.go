package viewer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// CodeEnv is the environment variable the one-time code is read from when --code is not given:
// unlike a command-line argument, it is not visible to other users through ps.
const CodeEnv = "DESKPORT_CODE"

// oneTimeCode decides the code: --code's value when given, else $DESKPORT_CODE; "-" (in
// either) asks on the terminal. The terminal is the controlling one (/dev/tty), not standard
// input, which `viewer stdio` uses for data — the way ssh asks for a password.
func oneTimeCode(flagSet bool, flag string, getenv func(string) string, tty func() (io.ReadWriteCloser, error)) (string, error) {
	code := flag
	if !flagSet {
		code = getenv(CodeEnv)
	}
	code = strings.TrimSpace(code)
	if code != "-" {
		return code, nil
	}
	t, err := tty()
	if err != nil {
		return "", fmt.Errorf("--code -: no terminal to ask for the code on (%v); set $%s instead", err, CodeEnv)
	}
	defer t.Close()
	fmt.Fprint(t, "one-time code from the host owner: ")
	line, err := bufio.NewReader(io.LimitReader(t, 256)).ReadString('\n')
	code = strings.TrimSpace(line)
	if code == "" {
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("no code typed")
		}
		return "", fmt.Errorf("--code -: %w", err)
	}
	return code, nil
}

func openTTY() (io.ReadWriteCloser, error) { return os.OpenFile("/dev/tty", os.O_RDWR, 0) }
