package vp8

import (
	"image/color"

	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/screen/internal/testpic"
)

// The synthetic pictures live in screen/internal/testpic, shared with the other codec.

func blockFrame(w, h, stride int) *screen.Frame { return testpic.Blocks(w, h, stride) }

func blockColour(x, y, w, h int) color.RGBA { return testpic.BlockColour(x, y, w, h) }

func movingFrame(f *screen.Frame, w, h, i int) *screen.Frame { return testpic.Moving(f, w, h, i) }
