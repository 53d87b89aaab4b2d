package pattern

import "testing"

func TestBlocksChangeEveryNext(t *testing.T) {
	for n := range 2 * len(Palette) {
		seen := map[RGB]bool{}
		for row := range Rows {
			for col := range Cols {
				c := Block(n, col, row)
				if seen[c] {
					t.Fatalf("pattern %d repeats %v", n, c)
				}
				seen[c] = true
				if c == Block(n+1, col, row) {
					t.Fatalf("block %d,%d keeps its colour after next", col, row)
				}
				nx, ny := Center(col, row)
				if At(n, nx, ny) != c {
					t.Fatalf("At and Block disagree at %d,%d", col, row)
				}
			}
		}
	}
}

func TestClockRoundTrip(t *testing.T) {
	const w, h, stride = 320, 200, 320*4 + 16
	for _, ms := range []int64{0, 1, 1_700_000_000_123, ClockMask} {
		pix := make([]byte, stride*h)
		for i := range ClockBits {
			if !ClockBit(ms, i) {
				continue
			}
			x0, y0, x1, y1 := ClockRect(i, w, h)
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					copy(pix[y*stride+x*4:], []byte{255, 255, 255, 0})
				}
			}
		}
		if got := DecodeClock(pix, stride, w, h); got != ms&ClockMask {
			t.Errorf("DecodeClock = %d, want %d", got, ms&ClockMask)
		}
	}
}
