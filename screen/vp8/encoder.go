//go:build cgo

package vp8

/*
#cgo pkg-config: vpx
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <vpx/vpx_encoder.h>
#include <vpx/vp8cx.h>

typedef struct {
	vpx_codec_ctx_t ctx;
	vpx_codec_enc_cfg_t cfg;
	vpx_image_t *img;
	int w, h;
	int64_t pts;
	int inited;
	uint8_t *out;
	size_t out_len, out_cap;
	int is_key;
} dp_vp8enc;

static void dp_vp8enc_free(dp_vp8enc *e) {
	if (!e) return;
	if (e->inited) vpx_codec_destroy(&e->ctx);
	if (e->img) vpx_img_free(e->img);
	free(e->out);
	free(e);
}

// dp_vp8enc_new returns a ready encoder, or NULL with *err set (and *msg pointing at a static
// string or at text inside *out_e's context, copied by the caller before freeing).
static dp_vp8enc *dp_vp8enc_new(int w, int h, int fps, int kbps, int threads, int kf_interval,
		int cpu_used, vpx_codec_err_t *err, char *msg, size_t msglen) {
	dp_vp8enc *e = calloc(1, sizeof *e);
	if (!e) { *err = VPX_CODEC_MEM_ERROR; return NULL; }
	e->w = w; e->h = h;
	vpx_codec_iface_t *iface = vpx_codec_vp8_cx();
	*err = vpx_codec_enc_config_default(iface, &e->cfg, 0);
	if (*err) { dp_vp8enc_free(e); return NULL; }
	vpx_codec_enc_cfg_t *c = &e->cfg;
	c->g_w = w;
	c->g_h = h;
	c->g_timebase.num = 1;
	c->g_timebase.den = fps;
	c->g_threads = threads;
	c->g_pass = VPX_RC_ONE_PASS;
	c->g_lag_in_frames = 0;
	c->g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
	c->rc_end_usage = VPX_CBR;
	c->rc_target_bitrate = kbps;
	c->rc_min_quantizer = 2;
	c->rc_max_quantizer = 56;
	c->rc_undershoot_pct = 100;
	c->rc_overshoot_pct = 15;
	c->rc_buf_initial_sz = 500;
	c->rc_buf_optimal_sz = 600;
	c->rc_buf_sz = 1000;
	c->rc_resize_allowed = 0;
	c->rc_dropframe_thresh = 0;
	if (kf_interval > 0) {
		c->kf_mode = VPX_KF_AUTO;
		c->kf_min_dist = 0;
		c->kf_max_dist = kf_interval;
	} else {
		c->kf_mode = VPX_KF_DISABLED;
	}
	*err = vpx_codec_enc_init(&e->ctx, iface, c, 0);
	if (*err) {
		if (e->ctx.err_detail) { strncpy(msg, e->ctx.err_detail, msglen - 1); }
		dp_vp8enc_free(e);
		return NULL;
	}
	e->inited = 1;
	int partitions = threads >= 8 ? VP8_EIGHT_TOKENPARTITION
		: threads >= 4 ? VP8_FOUR_TOKENPARTITION
		: threads >= 2 ? VP8_TWO_TOKENPARTITION : VP8_ONE_TOKENPARTITION;
	if ((*err = vpx_codec_control(&e->ctx, VP8E_SET_CPUUSED, cpu_used)) ||
		(*err = vpx_codec_control(&e->ctx, VP8E_SET_NOISE_SENSITIVITY, 0u)) ||
		(*err = vpx_codec_control(&e->ctx, VP8E_SET_STATIC_THRESHOLD, 1u)) ||
		(*err = vpx_codec_control(&e->ctx, VP8E_SET_TOKEN_PARTITIONS, partitions)) ||
		(*err = vpx_codec_control(&e->ctx, VP8E_SET_SCREEN_CONTENT_MODE, 1u)) ||
		(*err = vpx_codec_control(&e->ctx, VP8E_SET_MAX_INTRA_BITRATE_PCT, 900u))) {
		if (e->ctx.err_detail) { strncpy(msg, e->ctx.err_detail, msglen - 1); }
		dp_vp8enc_free(e);
		return NULL;
	}
	e->img = vpx_img_alloc(NULL, VPX_IMG_FMT_I420, w, h, 16);
	if (!e->img) { *err = VPX_CODEC_MEM_ERROR; dp_vp8enc_free(e); return NULL; }
	return e;
}

// dp_vp8enc_encode encodes the picture in e->img (codec.BGRXToI420 has filled it). The frame's
// packets are concatenated into e->out (e->out_len bytes; 0 when rate control dropped the
// frame).
static vpx_codec_err_t dp_vp8enc_encode(dp_vp8enc *e, int force_kf) {
	vpx_image_t *im = e->img;
	e->out_len = 0;
	e->is_key = 0;
	vpx_codec_err_t err = vpx_codec_encode(&e->ctx, im, e->pts, 1,
		force_kf ? VPX_EFLAG_FORCE_KF : 0, VPX_DL_REALTIME);
	e->pts++;
	if (err) return err;
	vpx_codec_iter_t iter = NULL;
	const vpx_codec_cx_pkt_t *pkt;
	while ((pkt = vpx_codec_get_cx_data(&e->ctx, &iter)) != NULL) {
		if (pkt->kind != VPX_CODEC_CX_FRAME_PKT) continue;
		size_t n = pkt->data.frame.sz;
		if (e->out_len + n > e->out_cap) {
			size_t cap = (e->out_len + n) * 2;
			uint8_t *p = realloc(e->out, cap);
			if (!p) return VPX_CODEC_MEM_ERROR;
			e->out = p;
			e->out_cap = cap;
		}
		memcpy(e->out + e->out_len, pkt->data.frame.buf, n);
		e->out_len += n;
		if (pkt->data.frame.flags & VPX_FRAME_IS_KEY) e->is_key = 1;
	}
	return VPX_CODEC_OK;
}

static vpx_codec_err_t dp_vp8enc_set_bitrate(dp_vp8enc *e, int kbps) {
	e->cfg.rc_target_bitrate = kbps;
	return vpx_codec_enc_config_set(&e->ctx, &e->cfg);
}

static const char *dp_vp8enc_detail(dp_vp8enc *e) {
	return e->ctx.err_detail;
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

// Encoder is a libvpx VP8 encoder for frames of one size. Its methods may be called from
// several goroutines (a mutex serialises them, so Close cannot free the codec under a running
// Encode), but frames are encoded one at a time.
type Encoder struct {
	mu  sync.Mutex
	e   *C.dp_vp8enc // nil after Close
	cfg Config
	buf []byte
	// converted: the codec's picture holds the last Encode's frame, for EncodeAgain.
	converted bool // the last frame, returned by Encode and reused
}

// NewEncoder starts a VP8 encoder with cfg's settings (zero fields take their defaults).
func NewEncoder(cfg Config) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var (
		cerr C.vpx_codec_err_t
		msg  [256]C.char
	)
	e := C.dp_vp8enc_new(C.int(cfg.Width), C.int(cfg.Height), C.int(cfg.FPS), C.int(codec.Kbps(cfg.Bitrate)),
		C.int(cfg.Threads), C.int(cfg.KeyframeInterval), C.int(cfg.CPUUsed), &cerr, &msg[0], C.size_t(len(msg)))
	if e == nil {
		return nil, codecError("start encoder", cerr, C.GoString(&msg[0]))
	}
	return &Encoder{e: e, cfg: cfg}, nil
}

// Config returns the encoder's settings with the defaults filled in.
func (enc *Encoder) Config() Config { return enc.cfg }

// Encode compresses f; keyframe forces a keyframe (VPX_EFLAG_FORCE_KF). data is one whole VP8
// frame, valid until the next Encode or Close; isKey reports whether it is a keyframe. data is
// nil when rate control dropped the frame.
func (enc *Encoder) Encode(f *screen.Frame, keyframe bool) (data []byte, isKey bool, err error) {
	enc.mu.Lock()
	defer enc.mu.Unlock()
	if enc.e == nil {
		return nil, false, ErrClosed
	}
	if err := codec.CheckFrame(f, enc.cfg.Width, enc.cfg.Height, ErrFrameSize); err != nil {
		return nil, false, err
	}
	im := enc.e.img
	codec.BGRXToI420(f, codec.Picture{
		Y: unsafe.Pointer(im.planes[C.VPX_PLANE_Y]), StrideY: int(im.stride[C.VPX_PLANE_Y]),
		U: unsafe.Pointer(im.planes[C.VPX_PLANE_U]), StrideU: int(im.stride[C.VPX_PLANE_U]),
		V: unsafe.Pointer(im.planes[C.VPX_PLANE_V]), StrideV: int(im.stride[C.VPX_PLANE_V]),
		Width: enc.cfg.Width, Height: enc.cfg.Height,
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
	if cerr := C.dp_vp8enc_encode(enc.e, force); cerr != C.VPX_CODEC_OK {
		return nil, false, codecError("encode", cerr, C.GoString(C.dp_vp8enc_detail(enc.e)))
	}
	n := int(enc.e.out_len)
	if n == 0 {
		return nil, false, nil
	}
	enc.buf = append(enc.buf[:0], unsafe.Slice((*byte)(unsafe.Pointer(enc.e.out)), n)...)
	return enc.buf, enc.e.is_key != 0, nil
}

// SetBitrate changes the target bitrate from the next frame on.
func (enc *Encoder) SetBitrate(bps int) error {
	if err := limits.ValidateBitrate(bps); err != nil {
		return err
	}
	enc.mu.Lock()
	defer enc.mu.Unlock()
	if enc.e == nil {
		return ErrClosed
	}
	if cerr := C.dp_vp8enc_set_bitrate(enc.e, C.int(codec.Kbps(bps))); cerr != C.VPX_CODEC_OK {
		return codecError("set bitrate", cerr, C.GoString(C.dp_vp8enc_detail(enc.e)))
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
		C.dp_vp8enc_free(enc.e)
		enc.e = nil
	}
	return nil
}

func codecError(op string, cerr C.vpx_codec_err_t, detail string) error {
	s := C.GoString(C.vpx_codec_err_to_string(cerr))
	if detail != "" {
		s += " (" + detail + ")"
	}
	return fmt.Errorf("%w: %s: %s", ErrCodec, op, s)
}
