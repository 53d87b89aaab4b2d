package vp8

import (
	"errors"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Width: 1920, Height: 1080}, true},
		{"odd size", Config{Width: 1366, Height: 767}, true},
		{"one pixel", Config{Width: 1, Height: 1}, true},
		{"all set", Config{Width: 1280, Height: 720, FPS: 60, Bitrate: 8_000_000, Threads: 2, KeyframeInterval: 300, CPUUsed: 8}, true},
		{"largest", Config{Width: 16383, Height: 16383}, true},
		{"no size", Config{}, false},
		{"zero width", Config{Height: 10}, false},
		{"negative height", Config{Width: 10, Height: -1}, false},
		{"too wide", Config{Width: 16384, Height: 10}, false},
		{"negative fps", Config{Width: 10, Height: 10, FPS: -1}, false},
		{"fps too high", Config{Width: 10, Height: 10, FPS: 241}, false},
		{"bitrate too low", Config{Width: 10, Height: 10, Bitrate: 1000}, false},
		{"bitrate too high", Config{Width: 10, Height: 10, Bitrate: 1 << 40}, false},
		{"negative bitrate", Config{Width: 10, Height: 10, Bitrate: -1}, false},
		{"negative threads", Config{Width: 10, Height: 10, Threads: -1}, false},
		{"too many threads", Config{Width: 10, Height: 10, Threads: 65}, false},
		{"negative keyframe interval", Config{Width: 10, Height: 10, KeyframeInterval: -1}, false},
		{"cpu-used too low", Config{Width: 10, Height: 10, CPUUsed: -17}, false},
		{"cpu-used too high", Config{Width: 10, Height: 10, CPUUsed: 17}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Width: 8, Height: 8}.withDefaults()
	if c.FPS != DefaultFPS || c.Bitrate != DefaultBitrate || c.CPUUsed != DefaultCPUUsed {
		t.Errorf("defaults = %+v", c)
	}
	if c.Threads < 1 || c.Threads > MaxThreads {
		t.Errorf("default threads = %d, want 1..%d", c.Threads, MaxThreads)
	}
	if c.KeyframeInterval != 0 {
		t.Errorf("default keyframe interval = %d, want 0 (on request)", c.KeyframeInterval)
	}
}

func TestDefaultThreads(t *testing.T) {
	for _, tt := range []struct{ ncpu, want int }{{1, 1}, {2, 1}, {3, 1}, {4, 2}, {8, 4}, {64, MaxThreads}} {
		if got := defaultThreads(tt.ncpu); got != tt.want {
			t.Errorf("defaultThreads(%d) = %d, want %d", tt.ncpu, got, tt.want)
		}
	}
}
