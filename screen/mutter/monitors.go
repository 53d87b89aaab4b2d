package mutter

import (
	"context"
	"fmt"
	"sort"

	"github.com/godbus/dbus/v5"

	"github.com/deskport/deskport/screen"
)

const (
	displayConfigName = "org.gnome.Mutter.DisplayConfig"
	displayConfigPath = "/org/gnome/Mutter/DisplayConfig"
)

// The reply of DisplayConfig.GetCurrentState, as far as it is read here.
type (
	dcMonitorID struct{ Connector, Vendor, Product, Serial string }
	dcMode      struct {
		ID            string
		Width, Height int32
		Refresh       float64
		PreferedScale float64
		Scales        []float64
		Props         map[string]dbus.Variant
	}
	dcMonitor struct {
		ID    dcMonitorID
		Modes []dcMode
		Props map[string]dbus.Variant
	}
	dcLogical struct {
		X, Y      int32
		Scale     float64
		Transform uint32
		Primary   bool
		Monitors  []dcMonitorID
		Props     map[string]dbus.Variant
	}
)

// Monitors lists the monitors of the GNOME session on the bus at address ("" means the
// session bus), from Mutter's DisplayConfig: connector name, place on the desktop, size in
// pixels (what a screen cast of it delivers) and which one is primary, ordered left to right,
// then top to bottom. Index is the place in that order, what --monitor and the viewer's monitor
// switch name.
func Monitors(ctx context.Context, address string) ([]screen.Monitor, error) {
	conn, err := connect(address)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return listMonitors(ctx, conn)
}

func listMonitors(ctx context.Context, conn *dbus.Conn) ([]screen.Monitor, error) {
	var (
		serial   uint32
		monitors []dcMonitor
		logical  []dcLogical
		props    map[string]dbus.Variant
	)
	call := conn.Object(displayConfigName, displayConfigPath).CallWithContext(ctx, displayConfigName+".GetCurrentState", 0)
	if err := call.Store(&serial, &monitors, &logical, &props); err != nil {
		return nil, fmt.Errorf("mutter: listing the monitors (DisplayConfig.GetCurrentState): %w", err)
	}
	size := map[string][2]int{} // connector: current mode
	for _, m := range monitors {
		for _, mode := range m.Modes {
			if cur, _ := mode.Props["is-current"].Value().(bool); cur {
				size[m.ID.Connector] = [2]int{int(mode.Width), int(mode.Height)}
			}
		}
	}
	var out []screen.Monitor
	for _, l := range logical {
		for _, id := range l.Monitors {
			wh, ok := size[id.Connector]
			if !ok {
				continue // not lit
			}
			if l.Transform%2 == 1 { // 90° or 270°, flipped or not
				wh[0], wh[1] = wh[1], wh[0]
			}
			out = append(out, screen.Monitor{Name: id.Connector, X: int(l.X), Y: int(l.Y), Width: wh[0], Height: wh[1], Primary: l.Primary})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].X != out[j].X {
			return out[i].X < out[j].X
		}
		return out[i].Y < out[j].Y
	})
	for i := range out {
		out[i].Index = i
	}
	return out, nil
}

// monStream is one monitor's screen-cast stream in a Session.
type monStream struct {
	mon           screen.Monitor
	path          dbus.ObjectPath
	node          uint32
	width, height int
}

// record records every monitor of the session (Config.Connector's is the default; the primary
// one without it), each in its own stream: a viewer switches among them without a new session.
// Without DisplayConfig it records the one Config.Connector names, or the primary one.
func (s *Session) record(ctx context.Context, sc dbus.BusObject, cursor uint32) error {
	mons, err := listMonitors(ctx, s.conn)
	if err != nil || len(mons) == 0 {
		s.log.Debug("mutter: recording one monitor only", "err", err)
		mons = []screen.Monitor{{Name: s.cfg.Connector, Primary: true}}
	}
	s.def = -1
	for _, m := range mons {
		if s.cfg.Connector != "" && m.Name == s.cfg.Connector || s.cfg.Connector == "" && m.Primary {
			s.def = m.Index
		}
	}
	if s.def < 0 {
		if s.cfg.Connector != "" {
			return fmt.Errorf("mutter: there is no monitor %q; this GNOME session has %s", s.cfg.Connector, monitorNames(mons))
		}
		s.def = 0
	}
	rec := map[string]dbus.Variant{"cursor-mode": dbus.MakeVariant(cursor)}
	for _, m := range mons {
		st := monStream{mon: m}
		if err := sc.CallWithContext(ctx, scSessionIface+".RecordMonitor", 0, m.Name, rec).Store(&st.path); err != nil {
			if m.Name != "" {
				return fmt.Errorf("mutter: recording monitor %q: %w", m.Name, err)
			}
			return s.callError("ScreenCast.Session.RecordMonitor", err)
		}
		s.streams = append(s.streams, st)
	}
	s.nmon = len(s.streams)
	if len(mons) > 1 {
		// The whole desktop, for monitor -1 (as on X11): an area stream of the monitors'
		// bounding box, after the monitors' streams.
		x0, y0, x1, y1 := mons[0].X, mons[0].Y, mons[0].X+mons[0].Width, mons[0].Y+mons[0].Height
		for _, m := range mons[1:] {
			x0, y0 = min(x0, m.X), min(y0, m.Y)
			x1, y1 = max(x1, m.X+m.Width), max(y1, m.Y+m.Height)
		}
		st := monStream{mon: screen.Monitor{Index: -1, X: x0, Y: y0, Width: x1 - x0, Height: y1 - y0}}
		if err := sc.CallWithContext(ctx, scSessionIface+".RecordArea", 0, int32(x0), int32(y0), int32(x1-x0), int32(y1-y0), rec).Store(&st.path); err != nil {
			return s.callError("ScreenCast.Session.RecordArea", err)
		}
		s.streams = append(s.streams, st)
	}
	return nil
}

func monitorNames(mons []screen.Monitor) string {
	s := ""
	for i, m := range mons {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%d: %s", m.Index, m.Name)
	}
	return s
}

// Monitors lists the session's monitors as they were when it started (Index is what
// CapturerFor takes).
func (s *Session) Monitors() []screen.Monitor {
	out := make([]screen.Monitor, s.nmon)
	for i, st := range s.streams[:s.nmon] {
		out[i] = st.mon
	}
	return out
}

// stream returns the stream of monitor index, and its place in s.streams; -1 means the whole
// desktop (the only monitor, when there is one).
func (s *Session) stream(index int) (int, error) {
	switch {
	case index == -1 && len(s.streams) > s.nmon:
		return s.nmon, nil
	case index == -1:
		return s.def, nil
	case index < 0 || index >= s.nmon:
		return 0, fmt.Errorf("%w: monitor %d: this GNOME session has %d (%s)", ErrNoMonitor, index, s.nmon, monitorNames(s.Monitors()))
	}
	return index, nil
}

// pointerStream is the path of the stream absolute pointer motion refers to.
func (s *Session) pointerStream() dbus.ObjectPath { return s.streams[s.active.Load()].path }
