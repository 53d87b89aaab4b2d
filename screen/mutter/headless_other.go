//go:build !linux

package mutter

import (
	"context"
	"errors"
	"os/exec"
)

// Headless is a headless GNOME session; it runs on Linux only.
type Headless struct{}

// StartHeadless fails: GNOME's headless session is Linux's.
func StartHeadless(context.Context, HeadlessConfig) (*Headless, error) {
	return nil, errors.New("mutter: a headless GNOME session needs Linux")
}

// Bus, RuntimeDir, Env, Start and Close exist so that callers build everywhere.
func (h *Headless) Bus() string               { return "" }
func (h *Headless) RuntimeDir() string        { return "" }
func (h *Headless) Env() []string             { return nil }
func (h *Headless) Start(cmd *exec.Cmd) error { return errors.New("mutter: no headless session") }
func (h *Headless) Close() error              { return nil }
