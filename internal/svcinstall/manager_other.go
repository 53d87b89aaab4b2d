//go:build !linux

package svcinstall

import (
	"errors"
	"fmt"

	"github.com/kardianos/service"
	"github.com/spf13/cobra"
)

// noop satisfies service.Interface for managing (not running) the service.
type noop struct{}

func (noop) Start(service.Service) error { return nil }
func (noop) Stop(service.Service) error  { return nil }

func native(s Spec, o Options) (service.Service, error) {
	args := []string{}
	if c := s.ConfigPath(o); c != "" {
		args = append(args, "--config", c)
	}
	return service.New(noop{}, &service.Config{
		Name:        s.UnitName(),
		DisplayName: "deskport " + s.Name,
		Description: s.Description,
		Executable:  o.Binary,
		Arguments:   args,
		Option:      service.KeyValue{"UserService": !o.System, "KeepAlive": true, "RunAtLoad": true},
	})
}

func installNative(cmd *cobra.Command, s Spec, o Options) error {
	if o.Root != "" {
		return errors.New("--root stages systemd units, which only Linux has")
	}
	svc, err := native(s, o)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoManager, err)
	}
	if err := svc.Install(); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "installed %s (%s); start it with `%s service start`\n", s.UnitName(), svc.Platform(), s.Name)
	return nil
}

func control(cmd *cobra.Command, s Spec, o Options, action string) error {
	if o.Root != "" {
		return errors.New("--root stages systemd units, which only Linux has")
	}
	svc, err := native(s, o)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoManager, err)
	}
	switch action {
	case "start":
		return svc.Start()
	case "stop":
		return svc.Stop()
	case "uninstall":
		_ = svc.Stop()
		return svc.Uninstall()
	case "status":
		st, err := svc.Status()
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), map[service.Status]string{service.StatusRunning: "running", service.StatusStopped: "stopped"}[st])
		return nil
	}
	return fmt.Errorf("unknown action %q", action)
}
