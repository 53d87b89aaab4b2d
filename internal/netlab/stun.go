package netlab

import (
	"errors"
	"net"
	"sync"

	"github.com/pion/stun/v4"
)

// stunServer answers STUN binding requests with the address they came from: all a peer needs
// to learn its server-reflexive address.
type stunServer struct {
	conn net.PacketConn
	wg   sync.WaitGroup
}

func startSTUN(ns, addr string) (*stunServer, error) {
	var conn net.PacketConn
	if err := inNS(ns, func() (err error) {
		conn, err = net.ListenPacket("udp4", addr)
		return err
	}); err != nil {
		return nil, err
	}
	s := &stunServer{conn: conn}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

func (s *stunServer) serve() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if req.Decode() != nil || req.Type != stun.BindingRequest {
			continue
		}
		udp, ok := from.(*net.UDPAddr)
		if !ok {
			continue
		}
		resp, err := stun.Build(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
			&stun.XORMappedAddress{IP: udp.IP, Port: udp.Port}, stun.Fingerprint)
		if err != nil {
			continue
		}
		_, _ = s.conn.WriteTo(resp.Raw, from)
	}
}

func (s *stunServer) Close() error {
	err := s.conn.Close()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
