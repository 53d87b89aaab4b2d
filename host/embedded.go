package host

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/deskport/deskport/rendezvous"
	"github.com/deskport/deskport/web"
)

// embeddedRendezvous is the in-process rendezvous a host runs when none is configured, so that
// `host` alone is a working setup on one machine or a LAN: it serves the browser viewer too.
type embeddedRendezvous struct {
	url    string
	cancel context.CancelFunc
	done   chan error
}

func startEmbedded(ctx context.Context, listen string, log *slog.Logger) (*embeddedRendezvous, error) {
	if listen == "" {
		listen = "127.0.0.1:8080"
	}
	srv, err := rendezvous.New(rendezvous.Config{Logger: log.With("component", "rendezvous"), Web: web.Handler()})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("cannot start the embedded rendezvous on %s: %w (is another host running? choose another address with --listen, or use --rendezvous URL)", listen, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	e := &embeddedRendezvous{url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { e.done <- srv.Serve(ctx, ln) }()
	log.Info("embedded rendezvous listening", "addr", ln.Addr().String())
	return e, nil
}

func (e *embeddedRendezvous) close() {
	e.cancel()
	<-e.done
}
