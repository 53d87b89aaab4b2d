//go:build cgo

package h264

/*
#cgo pkg-config: x264
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <x264.h>

typedef struct {
	x264_t *enc;
	x264_param_t p;
	x264_picture_t pic;
	int pic_alloced;
	int w, h;   // source size
	int ew, eh; // encoded size, even
	const uint8_t *out; // the last frame, inside x264's buffers until the next encode
	int out_len;
	int is_key;
} dp_x264;

static void dp_x264_free(dp_x264 *e) {
	if (!e) return;
	if (e->enc) x264_encoder_close(e->enc);
	if (e->pic_alloced) x264_picture_clean(&e->pic);
	free(e);
}

// dp_x264_vbv sets a VBV that caps the rate at the target and lets one frame take at most
// half a second's worth of bits, which bounds the latency a keyframe adds.
static void dp_x264_vbv(x264_param_t *p, int kbps) {
	p->rc.i_rc_method = X264_RC_ABR;
	p->rc.i_bitrate = kbps;
	p->rc.i_vbv_max_bitrate = kbps;
	p->rc.i_vbv_buffer_size = kbps / 2 > 0 ? kbps / 2 : 1;
}

// dp_x264_new returns a ready encoder, or NULL with *why naming the step that failed.
static dp_x264 *dp_x264_new(int w, int h, int fps, int kbps, int threads, int kf_interval, const char **why) {
	dp_x264 *e = calloc(1, sizeof *e);
	if (!e) { *why = "out of memory"; return NULL; }
	e->w = w; e->h = h;
	e->ew = (w + 1) & ~1; e->eh = (h + 1) & ~1;
	x264_param_t *p = &e->p;
	if (x264_param_default_preset(p, "ultrafast", "zerolatency") < 0) {
		*why = "preset ultrafast/zerolatency"; dp_x264_free(e); return NULL;
	}
	p->i_log_level = X264_LOG_NONE;
	p->i_csp = X264_CSP_I420;
	p->i_width = e->ew;
	p->i_height = e->eh;
	p->i_fps_num = fps;
	p->i_fps_den = 1;
	p->i_timebase_num = 1;
	p->i_timebase_den = fps;
	p->b_vfr_input = 0;
	p->i_threads = threads;
	p->b_sliced_threads = 1;
	p->i_keyint_max = kf_interval > 0 ? kf_interval : X264_KEYINT_MAX_INFINITE;
	p->i_scenecut_threshold = 0; // no IDR frames nobody asked for
	p->b_intra_refresh = 0;
	p->b_repeat_headers = 1;
	p->b_annexb = 1;
	p->b_aud = 0;
	p->vui.i_colorprim = 6;  // SMPTE 170M: BT.601, as the conversion uses
	p->vui.i_transfer = 6;
	p->vui.i_colmatrix = 6;
	p->vui.b_fullrange = 0;
	dp_x264_vbv(p, kbps);
	if (x264_param_apply_profile(p, "baseline") < 0) {
		*why = "profile baseline"; dp_x264_free(e); return NULL;
	}
	if (x264_picture_alloc(&e->pic, X264_CSP_I420, e->ew, e->eh) < 0) {
		*why = "picture allocation"; dp_x264_free(e); return NULL;
	}
	e->pic_alloced = 1;
	e->enc = x264_encoder_open(p);
	if (!e->enc) { *why = "encoder open (parameters refused)"; dp_x264_free(e); return NULL; }
	x264_encoder_parameters(e->enc, p);
	return e;
}

// dp_x264_encode encodes the picture in e->pic (codec.BGRXToI420 has filled it); e->out and
// e->out_len hold the access unit (Annex B, all NAL units of the frame, contiguous), valid
// until the next call.
static int dp_x264_encode(dp_x264 *e, int force_idr) {
	x264_picture_t *pic = &e->pic;
	pic->i_type = force_idr ? X264_TYPE_IDR : X264_TYPE_AUTO;
	x264_nal_t *nals;
	int nnal;
	x264_picture_t out;
	e->out = NULL;
	e->out_len = 0;
	e->is_key = 0;
	int n = x264_encoder_encode(e->enc, &nals, &nnal, pic, &out);
	pic->i_pts++;
	if (n < 0) return n;
	if (n > 0 && nnal > 0) {
		e->out = nals[0].p_payload;
		e->out_len = n;
		e->is_key = out.b_keyframe;
	}
	return 0;
}

static int dp_x264_set_bitrate(dp_x264 *e, int kbps) {
	x264_encoder_parameters(e->enc, &e->p);
	dp_x264_vbv(&e->p, kbps);
	return x264_encoder_reconfig(e->enc, &e->p);
}
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/screen/internal/codec"
)

var (
	_ screen.Encoder   = (*Encoder)(nil)
	_ screen.Reencoder = (*Encoder)(nil)
)

// Encoder is an x264 encoder for frames of one size. Its methods may be called from several
// goroutines (a mutex serialises them, so Close cannot free the codec under a running
// Encode), but frames are encoded one at a time.
type Encoder struct {
	mu  sync.Mutex
	e   *C.dp_x264 // nil after Close
	cfg Config
	buf []byte
	// converted: the codec's picture holds the last Encode's frame, for EncodeAgain.
	converted bool // the last access unit, returned by Encode and reused
}

// NewEncoder starts an x264 encoder with cfg's settings (zero fields take their defaults).
func NewEncoder(cfg Config) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var why *C.char
	e := C.dp_x264_new(C.int(cfg.Width), C.int(cfg.Height), C.int(cfg.FPS), C.int(codec.Kbps(cfg.Bitrate)),
		C.int(cfg.Threads), C.int(cfg.KeyframeInterval), &why)
	if e == nil {
		return nil, fmt.Errorf("%w: start encoder %dx%d: %s", ErrCodec, cfg.Width, cfg.Height, C.GoString(why))
	}
	return &Encoder{e: e, cfg: cfg}, nil
}

// Config returns the encoder's settings with the defaults filled in.
func (enc *Encoder) Config() Config { return enc.cfg }

// Size returns the size of the encoded pictures: Config's size rounded up to even numbers.
func (enc *Encoder) Size() (width, height int) { return evenSize(enc.cfg.Width, enc.cfg.Height) }

// Encode compresses f; keyframe forces an IDR frame. data is one access unit in Annex B (each
// NAL unit after a 00 00 00 01 or 00 00 01 start code), with SPS and PPS in front of every
// IDR frame; it is valid until the next Encode. isKey reports an IDR frame.
func (enc *Encoder) Encode(f *screen.Frame, keyframe bool) (data []byte, isKey bool, err error) {
	enc.mu.Lock()
	defer enc.mu.Unlock()
	if enc.e == nil {
		return nil, false, ErrClosed
	}
	if err := codec.CheckFrame(f, enc.cfg.Width, enc.cfg.Height, ErrFrameSize); err != nil {
		return nil, false, err
	}
	img := &enc.e.pic.img
	codec.BGRXToI420(f, codec.Picture{
		Y: unsafe.Pointer(img.plane[0]), StrideY: int(img.i_stride[0]),
		U: unsafe.Pointer(img.plane[1]), StrideU: int(img.i_stride[1]),
		V: unsafe.Pointer(img.plane[2]), StrideV: int(img.i_stride[2]),
		Width: int(enc.e.ew), Height: int(enc.e.eh),
	})
	enc.converted = true
	return enc.encode(keyframe)
}

// EncodeAgain encodes the picture of the last Encode again, without converting a frame
// (screen.Reencoder): the stream's refresh or keyframe of a screen that has not changed since.
func (enc *Encoder) EncodeAgain(keyframe bool) (data []byte, isKey bool, err error) {
	enc.mu.Lock()
	defer enc.mu.Unlock()
	if enc.e == nil {
		return nil, false, ErrClosed
	}
	if !enc.converted {
		return nil, false, fmt.Errorf("%w: EncodeAgain before the first Encode", ErrFrameSize)
	}
	return enc.encode(keyframe)
}

// encode encodes the converted picture; enc.mu is held.
func (enc *Encoder) encode(keyframe bool) (data []byte, isKey bool, err error) {
	force := C.int(0)
	if keyframe {
		force = 1
	}
	if rc := C.dp_x264_encode(enc.e, force); rc != 0 {
		return nil, false, fmt.Errorf("%w: encode failed (%d)", ErrCodec, int(rc))
	}
	n := int(enc.e.out_len)
	if n == 0 {
		return nil, false, nil
	}
	enc.buf = append(enc.buf[:0], unsafe.Slice((*byte)(unsafe.Pointer(enc.e.out)), n)...)
	return enc.buf, enc.e.is_key != 0, nil
}

// SetBitrate changes the target bitrate (and the VBV with it) from the next frame on.
func (enc *Encoder) SetBitrate(bps int) error {
	if err := limits.ValidateBitrate(bps); err != nil {
		return err
	}
	enc.mu.Lock()
	defer enc.mu.Unlock()
	if enc.e == nil {
		return ErrClosed
	}
	if rc := C.dp_x264_set_bitrate(enc.e, C.int(codec.Kbps(bps))); rc < 0 {
		return fmt.Errorf("%w: reconfigure bitrate %d bit/s failed (%d)", ErrCodec, bps, int(rc))
	}
	enc.cfg.Bitrate = bps
	return nil
}

// Close releases the codec. It is safe to call more than once; data returned by Encode stays
// valid, since it is Go memory.
func (enc *Encoder) Close() error {
	enc.mu.Lock()
	defer enc.mu.Unlock()
	if enc.e != nil {
		C.dp_x264_free(enc.e)
		enc.e = nil
	}
	return nil
}
