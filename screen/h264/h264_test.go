//go:build cgo

package h264

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/screen/internal/enctest"
	"github.com/deskport/deskport/screen/internal/testpic"
)

// NAL unit types (H.264 table 7-1).
const (
	nalSlice = 1
	nalIDR   = 5
	nalSEI   = 6
	nalSPS   = 7
	nalPPS   = 8
)

func newEncoder(t testing.TB, cfg Config) *Encoder {
	t.Helper()
	enc, err := NewEncoder(cfg)
	if err != nil {
		t.Fatalf("NewEncoder(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { enc.Close() })
	return enc
}

// splitNALs splits an Annex B access unit at its start codes. It fails the test unless the
// data starts with a start code.
func splitNALs(t *testing.T, data []byte) [][]byte {
	t.Helper()
	if !bytes.HasPrefix(data, []byte{0, 0, 1}) && !bytes.HasPrefix(data, []byte{0, 0, 0, 1}) {
		t.Fatalf("access unit starts with %x, want a start code", data[:min(len(data), 4)])
	}
	var nals [][]byte
	for len(data) > 0 {
		i := bytes.Index(data, []byte{0, 0, 1})
		if i < 0 {
			break
		}
		data = data[i+3:]
		end := bytes.Index(data, []byte{0, 0, 1})
		if end < 0 {
			end = len(data)
		}
		nal := data[:end]
		// A four-byte start code leaves its leading zero on the previous unit.
		if end < len(data) && end > 0 && nal[end-1] == 0 {
			nal = nal[:end-1]
		}
		nals = append(nals, nal)
		data = data[end:]
	}
	return nals
}

func nalTypes(t *testing.T, data []byte) []int {
	t.Helper()
	var types []int
	for _, n := range splitNALs(t, data) {
		if len(n) == 0 {
			t.Fatal("empty NAL unit")
		}
		types = append(types, int(n[0]&0x1f))
	}
	return types
}

func has(types []int, want int) bool {
	for _, ty := range types {
		if ty == want {
			return true
		}
	}
	return false
}

// bitReader reads an RBSP (emulation prevention bytes already removed).
type bitReader struct {
	b   []byte
	pos int
}

func (r *bitReader) bit() int {
	if r.pos/8 >= len(r.b) {
		r.pos++
		return 0
	}
	v := int(r.b[r.pos/8]>>(7-r.pos%8)) & 1
	r.pos++
	return v
}

func (r *bitReader) bits(n int) int {
	v := 0
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}

func (r *bitReader) ue() int {
	zeros := 0
	for r.bit() == 0 && zeros < 32 {
		zeros++
	}
	return 1<<zeros - 1 + r.bits(zeros)
}

// spsInfo is what the tests check in a sequence parameter set.
type spsInfo struct {
	profile, constraints, level int
	width, height               int
}

// parseSPS reads a baseline-profile SPS NAL unit (header byte included) far enough to get the
// cropped picture size (H.264 7.3.2.1.1).
func parseSPS(t *testing.T, nal []byte) spsInfo {
	t.Helper()
	rbsp := bytes.ReplaceAll(nal[1:], []byte{0, 0, 3}, []byte{0, 0})
	r := &bitReader{b: rbsp}
	var s spsInfo
	s.profile, s.constraints, s.level = r.bits(8), r.bits(8), r.bits(8)
	if s.profile != 66 {
		t.Fatalf("profile_idc %d, want 66 (baseline)", s.profile)
	}
	r.ue() // seq_parameter_set_id
	r.ue() // log2_max_frame_num_minus4
	switch pocType := r.ue(); pocType {
	case 0:
		r.ue()
	case 1:
		t.Fatal("pic_order_cnt_type 1 not handled")
	}
	r.ue()  // max_num_ref_frames
	r.bit() // gaps_in_frame_num_value_allowed_flag
	wMbs, hMaps := r.ue()+1, r.ue()+1
	frameMbsOnly := r.bit()
	if frameMbsOnly == 0 {
		r.bit()
	}
	r.bit() // direct_8x8_inference_flag
	s.width, s.height = wMbs*16, hMaps*16*(2-frameMbsOnly)
	if r.bit() == 1 { // frame_cropping_flag; 4:2:0 crops in units of 2
		left, right, top, bottom := r.ue(), r.ue(), r.ue(), r.ue()
		s.width -= 2 * (left + right)
		s.height -= 2 * (2 - frameMbsOnly) * (top + bottom)
	}
	return s
}

func TestKeyframes(t *testing.T) {
	for _, sz := range []struct{ w, h int }{{320, 240}, {67, 45}, {1, 1}, {1366, 767}} {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			enc := newEncoder(t, Config{Width: sz.w, Height: sz.h})
			ew, eh := enc.Size()
			if ew != (sz.w+1)&^1 || eh != (sz.h+1)&^1 {
				t.Fatalf("Size() = %dx%d for %dx%d", ew, eh, sz.w, sz.h)
			}
			var f *screen.Frame
			for i := range 12 {
				f = testpic.Moving(f, sz.w, sz.h, i)
				want := i == 0 || i == 5 || i == 6 || i == 11
				data, isKey, err := enc.Encode(f, want && i != 0)
				if err != nil {
					t.Fatal(err)
				}
				if data == nil {
					t.Fatalf("frame %d: no output (zerolatency must not delay frames)", i)
				}
				types := nalTypes(t, data)
				if isKey != want {
					t.Fatalf("frame %d: isKey %v, want %v (NAL types %v)", i, isKey, want, types)
				}
				if want {
					if !has(types, nalSPS) || !has(types, nalPPS) || !has(types, nalIDR) || has(types, nalSlice) {
						t.Fatalf("keyframe %d: NAL types %v, want SPS, PPS and IDR slices", i, types)
					}
					for _, n := range splitNALs(t, data) {
						if n[0]&0x1f == nalSPS {
							s := parseSPS(t, n)
							if s.width != ew || s.height != eh {
								t.Fatalf("SPS says %dx%d, want %dx%d", s.width, s.height, ew, eh)
							}
							if s.constraints&0x40 == 0 {
								t.Errorf("SPS constraint flags %#x: constraint_set1 missing, not constrained baseline", s.constraints)
							}
							if i == 0 {
								t.Logf("profile-level-id %02x%02x%02x", s.profile, s.constraints, s.level)
							}
						}
					}
				} else {
					if has(types, nalIDR) || has(types, nalSPS) || !has(types, nalSlice) {
						t.Fatalf("frame %d: NAL types %v, want non-IDR slices only", i, types)
					}
				}
			}
		})
	}
}

func TestKeyframeInterval(t *testing.T) {
	enc := newEncoder(t, Config{Width: 64, Height: 64, KeyframeInterval: 10})
	enctest.KeyframeInterval(t, enc, 64, 64, func(t *testing.T, data []byte) bool { return has(nalTypes(t, data), nalIDR) })
}

func TestSetBitrate(t *testing.T) {
	enctest.SetBitrate(t, newEncoder(t, Config{Width: 640, Height: 360, Bitrate: 5_000_000}), ErrInvalidConfig)
}

func TestFrameChecks(t *testing.T) {
	enctest.FrameChecks(t, newEncoder(t, Config{Width: 32, Height: 16}), ErrFrameSize)
}

func TestClose(t *testing.T) {
	enc, err := NewEncoder(Config{Width: 16, Height: 16})
	if err != nil {
		t.Fatal(err)
	}
	enctest.Close(t, enc, ErrClosed)
}

// EncodeAgain encodes the picture of the last Encode without a frame: a refresh is a non-IDR
// access unit and a requested keyframe an IDR with SPS and PPS, after the frame's pixels were
// overwritten; before any Encode it is refused.
func TestEncodeAgain(t *testing.T) {
	const w, h = 160, 120
	enc := newEncoder(t, Config{Width: w, Height: h})
	if _, _, err := enc.EncodeAgain(false); !errors.Is(err, ErrFrameSize) {
		t.Fatalf("EncodeAgain before Encode = %v, want %v", err, ErrFrameSize)
	}
	f := testpic.Blocks(w, h, 4*w)
	if _, _, err := enc.Encode(f, false); err != nil {
		t.Fatal(err)
	}
	clear(f.Pix)
	for _, key := range []bool{false, true, false} {
		data, isKey, err := enc.EncodeAgain(key)
		if err != nil {
			t.Fatal(err)
		}
		types := nalTypes(t, data)
		if isKey != key || has(types, nalIDR) != key || (key && (!has(types, nalSPS) || !has(types, nalPPS))) {
			t.Fatalf("EncodeAgain(%v): isKey %v, NAL types %v", key, isKey, types)
		}
	}
}
