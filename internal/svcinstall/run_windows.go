package svcinstall

import (
	"context"

	"github.com/kardianos/service"
)

// scmProgram answers the Windows service manager: Start returns at once (the command runs in
// main), Stop cancels the command's context, which drains like SIGTERM.
type scmProgram struct{ cancel context.CancelFunc }

func (p scmProgram) Start(service.Service) error { return nil }
func (p scmProgram) Stop(service.Service) error  { p.cancel(); return nil }

// Context returns ctx, also cancelled when the Windows service manager stops the service named
// deskport-<name>. At a console it returns ctx unchanged.
func Context(ctx context.Context, name string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	if service.Interactive() {
		return ctx, cancel
	}
	s, err := service.New(scmProgram{cancel}, &service.Config{Name: "deskport-" + name})
	if err != nil {
		return ctx, cancel
	}
	go func() { _ = s.Run() }()
	return ctx, cancel
}
