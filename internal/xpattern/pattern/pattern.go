// Package pattern fixes the pictures that the xpattern program paints, so that a test can
// compute which colour it expects at any point of a captured (or encoded and decoded) screen.
// It is pure Go; xpattern itself needs cgo and X11.
//
// The blocks pattern divides the screen into Cols×Rows equal blocks, numbered row by row from
// the top left. Pattern n (0 at start, plus one for every "next" command) paints block i in
// Palette[(i+n) % len(Palette)]: every "next" shifts the colours by one block, so every block
// changes colour.
//
// The clock pattern shows the time in milliseconds (Unix time, low ClockBits bits) as a grid of
// ClockCols×ClockRows cells; cell i (row by row from the top left) is bit i, least significant
// first, white for one and black for zero. The cells are large and black or white only so that
// the time survives video compression and chroma subsampling.
package pattern

// RGB is an sRGB colour.
type RGB struct{ R, G, B uint8 }

// The block colours, fully saturated so that any codec keeps them far apart.
var (
	Red     = RGB{255, 0, 0}
	Green   = RGB{0, 255, 0}
	Blue    = RGB{0, 0, 255}
	Yellow  = RGB{255, 255, 0}
	Magenta = RGB{255, 0, 255}
	Cyan    = RGB{0, 255, 255}
	White   = RGB{255, 255, 255}
	Black   = RGB{0, 0, 0}
)

// Layout of the blocks pattern.
const (
	Cols = 4
	Rows = 2
)

// Palette is the colour of each block in pattern 0, row by row from the top left.
var Palette = [Cols * Rows]RGB{Red, Green, Blue, Yellow, Magenta, Cyan, White, Black}

// Block is the colour of block (col, row) in pattern n.
func Block(n, col, row int) RGB {
	i := (row*Cols + col + n) % len(Palette)
	if i < 0 {
		i += len(Palette)
	}
	return Palette[i]
}

// BlockRect is the pixel rectangle [x0,x1)×[y0,y1) that xpattern paints for block (col, row)
// on a w×h screen.
func BlockRect(col, row, w, h int) (x0, y0, x1, y1 int) {
	return col * w / Cols, row * h / Rows, (col + 1) * w / Cols, (row + 1) * h / Rows
}

// Center is the normalised centre (0..1) of block (col, row).
func Center(col, row int) (nx, ny float64) {
	return (float64(col) + 0.5) / Cols, (float64(row) + 0.5) / Rows
}

// At is the colour of pattern n at the normalised point (nx, ny), both in [0, 1).
func At(n int, nx, ny float64) RGB {
	col, row := int(nx*Cols), int(ny*Rows)
	return Block(n, min(max(col, 0), Cols-1), min(max(row, 0), Rows-1))
}

// Layout of the clock pattern.
const (
	ClockCols = 12
	ClockRows = 4
	ClockBits = ClockCols * ClockRows
)

// ClockRect is the pixel rectangle of clock cell i on a w×h screen.
func ClockRect(i, w, h int) (x0, y0, x1, y1 int) {
	col, row := i%ClockCols, i/ClockCols
	return col * w / ClockCols, row * h / ClockRows, (col + 1) * w / ClockCols, (row + 1) * h / ClockRows
}

// ClockBit is the value of cell i for the time ms.
func ClockBit(ms int64, i int) bool { return ms>>i&1 == 1 }

// DecodeClock reads the clock pattern from a 32-bit BGRX picture (screen.Frame's layout) and
// returns the low ClockBits bits of the time it shows, in milliseconds.
func DecodeClock(pix []byte, stride, w, h int) int64 {
	var ms int64
	for i := range ClockBits {
		x0, y0, x1, y1 := ClockRect(i, w, h)
		o := (y0+y1)/2*stride + (x0+x1)/2*4
		if o+3 >= len(pix) {
			return -1
		}
		// Luma, integer BT.601 weights.
		if (int(pix[o+2])*77+int(pix[o+1])*150+int(pix[o])*29)>>8 >= 128 {
			ms |= 1 << i
		}
	}
	return ms
}

// ClockMask keeps the bits of a time that the clock pattern shows, for comparing it with
// DecodeClock.
const ClockMask = 1<<ClockBits - 1
