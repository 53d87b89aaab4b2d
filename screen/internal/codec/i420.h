// The BGRX → I420 conversion both encoders run on every frame, included only by i420.go (see
// the package comment for why not by the encoders themselves).
#include <stddef.h>
#include <stdint.h>

// dp_bgrx_to_i420 converts 32-bit B,G,R,X pixels (w×h, src_stride bytes a row) to I420 of
// dw×dh (dw >= w, dh >= h; the last column and row are repeated into the padding) with the
// BT.601 limited-range integer formula. Chroma is taken from the average of each 2×2 block.
static inline void dp_bgrx_to_i420(const uint8_t *src, int src_stride, int w, int h,
		uint8_t *py, int sy, uint8_t *pu, int su, uint8_t *pv, int sv, int dw, int dh) {
	for (int y = 0; y < dh; y += 2) {
		const uint8_t *r0 = src + (size_t)(y < h ? y : h - 1) * src_stride;
		const uint8_t *r1 = src + (size_t)(y + 1 < h ? y + 1 : h - 1) * src_stride;
		uint8_t *y0 = py + (size_t)y * sy;
		uint8_t *y1 = y + 1 < dh ? y0 + sy : NULL;
		uint8_t *u = pu + (size_t)(y / 2) * su;
		uint8_t *v = pv + (size_t)(y / 2) * sv;
		for (int x = 0; x < dw; x += 2) {
			int xa = x < w ? x : w - 1;
			int xb = x + 1 < w ? x + 1 : w - 1;
			const uint8_t *a = r0 + 4 * xa, *b = r0 + 4 * xb, *c = r1 + 4 * xa, *d = r1 + 4 * xb;
			y0[x] = (uint8_t)(((66 * a[2] + 129 * a[1] + 25 * a[0] + 128) >> 8) + 16);
			if (x + 1 < dw) y0[x + 1] = (uint8_t)(((66 * b[2] + 129 * b[1] + 25 * b[0] + 128) >> 8) + 16);
			if (y1) {
				y1[x] = (uint8_t)(((66 * c[2] + 129 * c[1] + 25 * c[0] + 128) >> 8) + 16);
				if (x + 1 < dw) y1[x + 1] = (uint8_t)(((66 * d[2] + 129 * d[1] + 25 * d[0] + 128) >> 8) + 16);
			}
			int B = (a[0] + b[0] + c[0] + d[0] + 2) >> 2;
			int G = (a[1] + b[1] + c[1] + d[1] + 2) >> 2;
			int R = (a[2] + b[2] + c[2] + d[2] + 2) >> 2;
			u[x / 2] = (uint8_t)(((-38 * R - 74 * G + 112 * B + 128) >> 8) + 128);
			v[x / 2] = (uint8_t)(((112 * R - 94 * G - 18 * B + 128) >> 8) + 128);
		}
	}
}
