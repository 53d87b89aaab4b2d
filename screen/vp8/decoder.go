//go:build cgo

package vp8

/*
#cgo pkg-config: vpx
#include <stdint.h>
#include <stdlib.h>
#include <vpx/vpx_decoder.h>
#include <vpx/vp8dx.h>

typedef struct {
	vpx_codec_ctx_t ctx;
} dp_vp8dec;

static dp_vp8dec *dp_vp8dec_new(vpx_codec_err_t *err) {
	dp_vp8dec *d = calloc(1, sizeof *d);
	if (!d) { *err = VPX_CODEC_MEM_ERROR; return NULL; }
	vpx_codec_dec_cfg_t cfg = {0};
	cfg.threads = 1;
	*err = vpx_codec_dec_init(&d->ctx, vpx_codec_vp8_dx(), &cfg, 0);
	if (*err) { free(d); return NULL; }
	return d;
}

static void dp_vp8dec_free(dp_vp8dec *d) {
	vpx_codec_destroy(&d->ctx);
	free(d);
}

// dp_vp8dec_decode decodes one frame and returns the picture it shows, or NULL with *err set
// (VPX_CODEC_OK and NULL when the frame shows nothing).
static vpx_image_t *dp_vp8dec_decode(dp_vp8dec *d, const uint8_t *data, unsigned int n, vpx_codec_err_t *err) {
	*err = vpx_codec_decode(&d->ctx, data, n, NULL, 0);
	if (*err) return NULL;
	vpx_codec_iter_t iter = NULL;
	vpx_image_t *img = NULL, *next;
	while ((next = vpx_codec_get_frame(&d->ctx, &iter)) != NULL) img = next;
	return img;
}

static inline uint8_t dp_clamp(int v) { return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v; }

// dp_i420_to_rgba converts an I420 picture with BT.601 limited range to RGBA (alpha 255).
static void dp_i420_to_rgba(const vpx_image_t *im, uint8_t *dst, int dst_stride) {
	int w = im->d_w, h = im->d_h;
	for (int y = 0; y < h; y++) {
		const uint8_t *py = im->planes[VPX_PLANE_Y] + (size_t)y * im->stride[VPX_PLANE_Y];
		const uint8_t *pu = im->planes[VPX_PLANE_U] + (size_t)(y / 2) * im->stride[VPX_PLANE_U];
		const uint8_t *pv = im->planes[VPX_PLANE_V] + (size_t)(y / 2) * im->stride[VPX_PLANE_V];
		uint8_t *o = dst + (size_t)y * dst_stride;
		for (int x = 0; x < w; x++) {
			int c = 298 * (py[x] - 16), d = pu[x / 2] - 128, e = pv[x / 2] - 128;
			o[4 * x + 0] = dp_clamp((c + 409 * e + 128) >> 8);
			o[4 * x + 1] = dp_clamp((c - 100 * d - 208 * e + 128) >> 8);
			o[4 * x + 2] = dp_clamp((c + 516 * d + 128) >> 8);
			o[4 * x + 3] = 255;
		}
	}
}
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"sync"
	"unsafe"
)

// Decoder turns VP8 frames back into pictures. It keeps the reference frames between calls,
// so frames must be given in order, starting with a keyframe. It is safe for concurrent use;
// calls are serialised.
type Decoder struct {
	mu sync.Mutex
	d  *C.dp_vp8dec // nil after Close
}

// errNoPicture means a frame decoded fine but showed nothing (an alt-ref frame).
var errNoPicture = errors.New("vp8: frame has no picture to show")

// NewDecoder starts a VP8 decoder.
func NewDecoder() (*Decoder, error) {
	var cerr C.vpx_codec_err_t
	d := C.dp_vp8dec_new(&cerr)
	if d == nil {
		return nil, codecError("start decoder", cerr, "")
	}
	return &Decoder{d: d}, nil
}

// Decode decodes one VP8 frame (as Encoder.Encode returns it, or as a depacketizer
// reassembles it) and returns a new RGBA picture of the frame's size.
func (dec *Decoder) Decode(data []byte) (*image.RGBA, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: decode: empty frame", ErrCodec)
	}
	dec.mu.Lock()
	defer dec.mu.Unlock()
	if dec.d == nil {
		return nil, ErrClosed
	}
	// libvpx may keep pointers into the input until the next call, so it gets C memory.
	cdata := C.CBytes(data)
	defer C.free(cdata)
	var cerr C.vpx_codec_err_t
	im := C.dp_vp8dec_decode(dec.d, (*C.uint8_t)(cdata), C.uint(len(data)), &cerr)
	if cerr != C.VPX_CODEC_OK {
		return nil, codecError("decode", cerr, C.GoString(dec.d.ctx.err_detail))
	}
	if im == nil {
		return nil, errNoPicture
	}
	if im.fmt != C.VPX_IMG_FMT_I420 {
		return nil, fmt.Errorf("%w: decode: unexpected picture format %d", ErrCodec, im.fmt)
	}
	rgba := image.NewRGBA(image.Rect(0, 0, int(im.d_w), int(im.d_h)))
	C.dp_i420_to_rgba(im, (*C.uint8_t)(unsafe.Pointer(&rgba.Pix[0])), C.int(rgba.Stride))
	return rgba, nil
}

// Close releases the decoder. It is safe to call more than once.
func (dec *Decoder) Close() error {
	dec.mu.Lock()
	defer dec.mu.Unlock()
	if dec.d != nil {
		C.dp_vp8dec_free(dec.d)
		dec.d = nil
	}
	return nil
}
