// Package testpic draws the synthetic pictures the codec tests and benchmarks encode: colour
// blocks whose decoded colours can be checked, and a moving desktop-like picture.
package testpic

import (
	"image/color"

	"github.com/deskport/deskport/screen"
)

// Colours are the blocks of Blocks, chosen far apart so that a mix-up shows.
var Colours = []color.RGBA{
	{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}, {255, 255, 255, 255},
	{0, 0, 0, 255}, {255, 255, 0, 255}, {0, 255, 255, 255}, {255, 0, 255, 255},
	{128, 128, 128, 255}, {200, 100, 50, 255}, {50, 100, 200, 255}, {30, 180, 90, 255},
}

// Blocks fills a w×h frame with a 4×3 grid of Colours. stride may be larger than 4*w;
// the padding bytes hold garbage that must not show.
func Blocks(w, h, stride int) *screen.Frame {
	f := &screen.Frame{Width: w, Height: h, Stride: stride, Pix: make([]byte, stride*h), Changed: true}
	for i := range f.Pix {
		f.Pix[i] = 0x5a
	}
	for y := range h {
		for x := range w {
			c := BlockColour(x, y, w, h)
			p := f.Pix[y*stride+4*x:]
			p[0], p[1], p[2], p[3] = c.B, c.G, c.R, 0
		}
	}
	return f
}

func BlockColour(x, y, w, h int) color.RGBA {
	return Colours[(y*3/h)*4+x*4/w]
}

// Moving draws frame i of a changing picture that looks a little like a desktop: a
// still diagonal gradient around a "text" panel of 8×16 glyph cells, 56% of the picture, that
// scrolls up one pixel a frame (a browser page being scrolled). It reuses f when it is the
// right size.
func Moving(f *screen.Frame, w, h, i int) *screen.Frame {
	if f == nil || f.Width != w || f.Height != h {
		f = &screen.Frame{Width: w, Height: h, Stride: 4 * w, Pix: make([]byte, 4*w*h)}
	}
	f.Changed = true
	for y := range h {
		row := f.Pix[y*f.Stride:]
		ty := y + i // text scrolls
		for x := range w {
			p := row[4*x : 4*x+4]
			if x > w/8 && x < w*7/8 && y > h/8 && y < h*7/8 {
				// Text panel: white paper, dark glyph strokes from a hash of the cell.
				cx, cy := x/8, ty/16
				gx, gy := x%8, ty%16
				hsh := uint32(cx*7919+cy*104729) * 2654435761
				on := gx > 0 && gx < 7 && gy > 2 && gy < 14 && hsh>>(uint(gx*3+gy)%29)&1 == 1 && cx%9 != 0
				if on {
					p[0], p[1], p[2] = 30, 30, 40
				} else {
					p[0], p[1], p[2] = 250, 250, 250
				}
			} else {
				g := x + y
				p[0], p[1], p[2] = byte(g), byte(g/2), byte(255-g/3)
			}
			p[3] = 0
		}
	}
	return f
}
