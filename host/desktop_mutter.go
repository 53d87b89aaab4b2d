package host

import (
	"strings"

	"github.com/deskport/deskport/screen/mutter"
	"github.com/deskport/deskport/screen/xvfb"
)

// moveGNOMELocked is moveTo on the mutter backend (it.mu held): the session's stream is its
// own, so it is given up before the new one opens, and taken up again if that fails. Mutter
// sends a second consumer of a running stream no frame until the screen changes, so opening
// the new capture first, as moveTo does on X11, would wait on a static screen until it timed
// out whenever the new stream records the same monitor (a quality change; docs/wayland.md).
func (it *interactive) moveGNOMELocked(key shareKey, open opener) error {
	old := it.shared
	it.view.Leave()
	<-old.fan.Done() // the last viewer out: its capture is closed
	s, v, err := it.a.desk.join(key, open, it.write)
	if err != nil {
		it.a.desk.log.Warn("cannot move the screen stream; back to the old settings", "err", err)
		if s, v, err2 := it.a.desk.join(old.key, open, it.write); err2 == nil {
			it.shared, it.view = s, v
			it.area.follow(s.area)
		} else {
			it.view = nil
		}
		it.signalMoved()
		return err
	}
	it.shared, it.view = s, v
	it.area.follow(s.area)
	it.signalMoved()
	return nil
}

// signalMoved tells the session's stream loop that it watches another stream now.
func (it *interactive) signalMoved() {
	select {
	case it.moved <- struct{}{}:
	default:
	}
}

// headlessSizes reads --virtual-display for a headless GNOME: one size per virtual monitor,
// comma-separated ("1920x1080,1280x1024"), placed left to right.
func headlessSizes(spec string) (mutter.HeadlessConfig, error) {
	var hc mutter.HeadlessConfig
	for i, size := range strings.Split(spec, ",") {
		w, h, err := xvfb.ParseSize(strings.TrimSpace(size))
		if err != nil {
			return hc, err
		}
		if i == 0 {
			hc.Width, hc.Height = w, h
		} else {
			hc.Extra = append(hc.Extra, [2]int{w, h})
		}
	}
	return hc, nil
}
