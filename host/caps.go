package host

import (
	"fmt"
	"slices"
	"strings"

	"github.com/deskport/deskport/auth"
)

// Caps are what one viewer session may do. The host enforces them at every stream open and
// every input event; a capability not granted is refused with a message that names it.
type Caps struct {
	View      bool // receive the screen
	Control   bool // inject pointer and keyboard input
	Clipboard bool // read and set the clipboard
	Files     bool // put and get files under the file root
	Forward   bool // -L and -D forwards, within the forward policy
	Listen    bool // -R reverse forwards, within the listen policy
}

// Capability names, as written in --grant and in logs.
var capNames = []string{"view", "control", "clipboard", "files", "forward", "listen"}

func (c Caps) String() string {
	var out []string
	for i, on := range []bool{c.View, c.Control, c.Clipboard, c.Files, c.Forward, c.Listen} {
		if on {
			out = append(out, capNames[i])
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ",")
}

// ParseCaps reads a comma-separated capability list ("view,control"; "all" for every one).
func ParseCaps(s string) (Caps, error) {
	var c Caps
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(strings.ToLower(name))
		switch name {
		case "":
		case "all":
			c = Caps{true, true, true, true, true, true}
		case "view":
			c.View = true
		case "control":
			c.Control = true
		case "clipboard":
			c.Clipboard = true
		case "files":
			c.Files = true
		case "forward":
			c.Forward = true
		case "listen":
			c.Listen = true
		default:
			return Caps{}, fmt.Errorf("unknown capability %q (known: %s, all)", name, strings.Join(capNames, ", "))
		}
	}
	return c, nil
}

// Intersect keeps only what both grant.
func (c Caps) Intersect(o Caps) Caps {
	return Caps{c.View && o.View, c.Control && o.Control, c.Clipboard && o.Clipboard, c.Files && o.Files, c.Forward && o.Forward, c.Listen && o.Listen}
}

// capsForKey derives a trusted key's capabilities from its authorized_viewers options: everything
// unless an option takes it away.
func capsForKey(o auth.Options) Caps {
	return Caps{
		View:      !o.NoView,
		Control:   !o.ViewOnly && !o.NoControl,
		Clipboard: !o.ViewOnly && !o.NoClipboard,
		Files:     !o.ViewOnly && !o.NoFiles,
		Forward:   !o.NoPortForwarding && !o.NoForward,
		Listen:    !o.NoPortForwarding && !o.NoListen,
	}
}

// capsFor is what a viewer gets before consent: a trusted key its options; a one-time code the
// host's --grant list (view only by default).
func (a *Agent) capsFor(p *auth.Peer) Caps {
	if p.Method == auth.MethodKey {
		return capsForKey(p.Options)
	}
	return a.cfg.CodeGrants
}

// grantedNames lists the capabilities for an audit record.
func (c Caps) grantedNames() []string {
	s := c.String()
	if s == "none" {
		return nil
	}
	return slices.Clip(strings.Split(s, ","))
}
