//go:build !windows

package svcinstall

import "context"

// Context returns ctx: outside Windows the service manager stops a service with SIGTERM, which
// the command's signal context already turns into a cancel.
func Context(ctx context.Context, name string) (context.Context, context.CancelFunc) {
	return context.WithCancel(ctx)
}
