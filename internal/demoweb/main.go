// Command demoweb is the little web service `make demo` puts behind the host: it listens on a
// loopback port the OS chooses, prints it, and answers every request with a greeting.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "demoweb:", err)
		os.Exit(1)
	}
	fmt.Printf("demoweb listening on port %d\n", ln.Addr().(*net.TCPAddr).Port)
	started := time.Now().Format(time.TimeOnly)
	err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from a service only the host can reach (started %s, you asked for %s)\n", started, r.URL.Path)
	}))
	fmt.Fprintln(os.Stderr, "demoweb:", err)
	os.Exit(1)
}
