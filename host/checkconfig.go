package host

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/internal/termtext"
)

// CheckConfig prints the effective policy: who may connect and with what. It returns an error
// for anything the host could not enforce (a key option it cannot parse, a policy with no way
// in), so `host --check-config` can gate a deployment.
func (a *Agent) CheckConfig(w io.Writer) error {
	var problems []error
	fmt.Fprintf(w, "host ID:        %s\n", a.id)
	if a.cfg.Rendezvous == "" {
		fmt.Fprintf(w, "rendezvous:     embedded, listening on %s (serves the browser viewer)\n", orDefault(a.cfg.Listen, "127.0.0.1:8080"))
	} else {
		fmt.Fprintf(w, "rendezvous:     %s\n", a.cfg.Rendezvous)
	}
	if a.codes != nil {
		fmt.Fprintf(w, "one-time codes: on, valid %v, one attempt each; a code viewer gets: %s\n", a.cfg.CodeTTL, a.cfg.CodeGrants)
	} else {
		fmt.Fprintln(w, "one-time codes: off (--code to accept them)")
	}
	a.mu.Lock()
	keys := a.keys
	a.mu.Unlock()
	fmt.Fprintf(w, "trusted viewer keys (%s): %d\n", a.cfg.AuthorizedViewersPath, len(keys))
	for _, k := range keys {
		caps := capsForKey(k.Options)
		fmt.Fprintf(w, "  %s %s\n    may: %s\n", identity.Fingerprint(k.Key), termtext.Escape(k.Comment), caps)
		if len(k.Options.PermitOpen) > 0 {
			fmt.Fprintf(w, "    forwards narrowed to: %s\n", strings.Join(k.Options.PermitOpen, ", "))
			if _, err := a.policyFor(k.Options); err != nil {
				problems = append(problems, fmt.Errorf("key %s: permitopen: %w", identity.Fingerprint(k.Key), err))
			}
		}
		if len(k.Options.PermitListen) > 0 {
			fmt.Fprintf(w, "    reverse forwards narrowed to: %s\n", strings.Join(k.Options.PermitListen, ", "))
			if _, err := a.listenPolicyFor(k.Options); err != nil {
				problems = append(problems, fmt.Errorf("key %s: permitlisten: %w", identity.Fingerprint(k.Key), err))
			}
		}
	}
	if len(a.cfg.Allow) == 0 {
		fmt.Fprintln(w, "forward targets (--allow): none; every forward is refused")
	} else {
		fmt.Fprintf(w, "forward targets (--allow): %s\n", strings.Join(a.cfg.Allow, ", "))
	}
	if len(a.cfg.AllowListen) == 0 {
		fmt.Fprintln(w, "reverse-forward listeners (--allow-listen): none; every -R is refused")
	} else {
		fmt.Fprintf(w, "reverse-forward listeners (--allow-listen): %s\n", strings.Join(a.cfg.AllowListen, ", "))
	}
	switch {
	case !DesktopSupported(hostOS):
		fmt.Fprintf(w, "desktop:        off (not available on %s yet)\n", hostOS)
	case a.cfg.Desktop.Disabled:
		fmt.Fprintln(w, "desktop:        off (--no-desktop)")
	case a.cfg.Desktop.Backend == BackendMutter && a.cfg.Desktop.VirtualDisplay != "":
		fmt.Fprintf(w, "desktop:        a headless GNOME session %s (mutter), codec %s\n", a.cfg.Desktop.VirtualDisplay, orDefault(a.cfg.Desktop.Codec, "vp8"))
	case a.cfg.Desktop.Backend == BackendPortal:
		fmt.Fprintf(w, "desktop:        this desktop through its portal (asks once; restore token in %s), codec %s\n", portalTokenPath(a.desktopConfig()), orDefault(a.cfg.Desktop.Codec, "vp8"))
	case a.cfg.Desktop.Backend == BackendMutter:
		fmt.Fprintf(w, "desktop:        this GNOME session (mutter), codec %s\n", orDefault(a.cfg.Desktop.Codec, "vp8"))
	case a.cfg.Desktop.VirtualDisplay != "":
		fmt.Fprintf(w, "desktop:        a virtual display %s, codec %s\n", a.cfg.Desktop.VirtualDisplay, orDefault(a.cfg.Desktop.Codec, "vp8"))
	default:
		fmt.Fprintf(w, "desktop:        display %s, codec %s\n", orDefault(a.cfg.Desktop.Display, "$DISPLAY"), orDefault(a.cfg.Desktop.Codec, "vp8"))
	}
	if len(keys) == 0 && a.codes == nil {
		problems = append(problems, errors.New("no viewer can connect: no trusted keys and no one-time codes"))
	}
	if len(problems) > 0 {
		fmt.Fprintln(w, "problems:")
		for _, p := range problems {
			fmt.Fprintf(w, "  - %v\n", p)
		}
		return fmt.Errorf("the configuration has %d problem(s); see above", len(problems))
	}
	fmt.Fprintln(w, "ok")
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
