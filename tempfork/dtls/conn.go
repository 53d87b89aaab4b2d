// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package dtls

import (
	"bytes"
	"context"
	"crypto/fips140"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deskport/deskport/tempfork/dtls/internal/closer"
	"github.com/deskport/deskport/tempfork/dtls/internal/util"
	"github.com/deskport/deskport/tempfork/dtls/pkg/crypto/elliptic"
	"github.com/deskport/deskport/tempfork/dtls/pkg/crypto/signaturehash"
	"github.com/deskport/deskport/tempfork/dtls/pkg/protocol"
	"github.com/deskport/deskport/tempfork/dtls/pkg/protocol/alert"
	"github.com/deskport/deskport/tempfork/dtls/pkg/protocol/handshake"
	"github.com/deskport/deskport/tempfork/dtls/pkg/protocol/recordlayer"
	"github.com/pion/logging"
	"github.com/pion/transport/v5/deadline"
	"github.com/pion/transport/v5/netctx"
	"github.com/pion/transport/v5/replaydetector"
)

const (
	initialTickerInterval = time.Second
	cookieLength          = 20
	sessionLength         = 32
	inboundBufferSize     = 8192
	// Default replay protection window is specified by RFC 6347 Section 4.1.2.6.
	defaultReplayProtectionWindow = 64
	// maxAppDataPacketQueueSize is the maximum number of app data packets we will.
	// enqueue before the handshake is completed.
	maxAppDataPacketQueueSize = 100
)

func invalidKeyingLabels() map[string]bool {
	return map[string]bool{
		"client finished": true,
		"server finished": true,
		"master secret":   true,
		"key expansion":   true,
	}
}

type addrPkt struct {
	rAddr net.Addr
	data  []byte
}

type recvHandshakeState struct {
	done                    chan struct{}
	isRetransmit            bool
	isClientHelloRetransmit bool
}

// Conn represents a DTLS connection.
type Conn struct {
	lock           sync.RWMutex      // Internal lock (must not be public)
	nextConn       netctx.PacketConn // Embedded Conn, typically a udpconn we read/write from
	fragmentBuffer *fragmentBuffer   // out-of-order and missing fragment handling
	handshakeCache *handshakeCache   // caching of handshake messages for verifyData generation
	decrypted      chan any          // Decrypted Application Data or error, pull by calling `Read`
	rAddr          net.Addr
	state          State // Internal state

	maximumTransmissionUnit int
	paddingLengthGenerator  func(uint) uint

	handshakeCompletedSuccessfully atomic.Bool
	handshakeMutex                 sync.Mutex
	handshakeDone                  chan struct{}
	writeLock                      sync.Mutex

	encryptedPackets []addrPkt

	connectionClosedByUser bool
	closeLock              sync.Mutex
	closed                 *closer.Closer

	readDeadline  *deadline.Deadline
	writeDeadline *deadline.Deadline

	// deskport: writeGuard interrupts Write's write to nextConn on the write deadline or Close.
	writeGuard ioGuard
	// deskport: readGuard interrupts the read loop's read from nextConn when its context ends.
	readGuard ioGuard
	// deskport: sealRecord is sealApplicationData's record header, guarded by lock.
	sealRecord recordlayer.RecordLayer
	// deskport: sealBuf is the buffer sealApplicationData seals a record into, guarded by
	// writeLock.
	sealBuf []byte
	// deskport: with Config.ReadOnCaller, once the handshake has completed and Read has been
	// called (readCalled), the read loop hands reading over to Read (closes readHandedOff and
	// ends), and Read reads and decrypts records on its own goroutine (readInline) instead of
	// taking each from the read loop through decrypted: one goroutine hand-off less per record
	// received. A connection nobody reads (media only, in pion/webrtc) keeps its read loop.
	readHandedOff chan struct{}
	readCalled    atomic.Bool
	readMu        sync.Mutex // serializes inline reads; guards what follows
	readQueue     [][]byte   // records of a datagram not returned yet, in readBuf
	readBuf       []byte     // the datagram an inline read decrypted in place
	readNext      int        // the next record of readQueue to return
	readErr       error      // what ended inline reading: every Read returns it
	readOnCaller  bool       // Config.ReadOnCaller

	log logging.LeveledLogger

	reading               chan struct{}
	handshakeRecv         chan recvHandshakeState
	cancelHandshaker      func()
	cancelHandshakeReader func()

	fsm *handshakeFSM

	replayProtectionWindow uint

	handshakeConfig *handshakeConfig
}

// createConn creates a new DTLS connection.
// Caller is responsible for validating the config before calling this function.
//
//nolint:cyclop
func createConn(
	nextConn net.PacketConn,
	rAddr net.Addr,
	config *Config,
	isClient bool,
	resumeState *State,
) (*Conn, error) {
	if nextConn == nil {
		return nil, errNilNextConn
	}

	loggerFactory := config.LoggerFactory
	if loggerFactory == nil {
		loggerFactory = logging.NewDefaultLoggerFactory()
	}

	logger := loggerFactory.NewLogger("dtls")

	mtu := config.MTU
	if mtu <= 0 {
		mtu = defaultMTU
	}

	replayProtectionWindow := config.ReplayProtectionWindow
	if replayProtectionWindow <= 0 {
		replayProtectionWindow = defaultReplayProtectionWindow
	}

	paddingLengthGenerator := config.PaddingLengthGenerator
	if paddingLengthGenerator == nil {
		paddingLengthGenerator = func(uint) uint { return 0 }
	}

	cipherSuites, err := parseCipherSuites(
		config.CipherSuites,
		config.CustomCipherSuites,
		config.includeCertificateSuites(),
		config.PSK != nil,
	)
	if err != nil {
		return nil, err
	}

	signatureSchemes, err := signaturehash.ParseSignatureSchemes(config.SignatureSchemes, config.InsecureHashes)
	if err != nil {
		return nil, err
	}

	// Parse certificate signature schemes only if explicitly configured
	var certSignatureSchemes []signaturehash.Algorithm
	if len(config.CertificateSignatureSchemes) > 0 {
		certSignatureSchemes, err = signaturehash.ParseSignatureSchemes(
			config.CertificateSignatureSchemes,
			config.InsecureHashes,
		)
		if err != nil {
			return nil, err
		}
	}

	workerInterval := initialTickerInterval
	if config.FlightInterval > 0 {
		workerInterval = config.FlightInterval
	}

	curves := config.EllipticCurves
	if len(curves) == 0 {
		curves = defaultCurves
	}

	if fips140.Enabled() {
		// On FIPS systems, filter out non-approved curves
		filtered := make([]elliptic.Curve, 0, len(curves))
		for _, c := range curves {
			if c != elliptic.X25519 {
				filtered = append(filtered, c)
			}
		}
		curves = filtered
	}

	minVersion := config.minVersion
	if !minVersion.Equal(protocol.Version1_2) || !minVersion.Equal(protocol.Version1_3) {
		minVersion = protocol.Version1_2
	}

	maxVersion := config.minVersion
	if !maxVersion.Equal(protocol.Version1_2) || !maxVersion.Equal(protocol.Version1_3) {
		maxVersion = protocol.Version1_2
	}

	handshakeConfig := &handshakeConfig{
		localPSKCallback:              config.PSK,
		localPSKIdentityHint:          config.PSKIdentityHint,
		localCipherSuites:             cipherSuites,
		localSignatureSchemes:         signatureSchemes,
		localCertSignatureSchemes:     certSignatureSchemes,
		extendedMasterSecret:          config.ExtendedMasterSecret,
		localSRTPProtectionProfiles:   config.SRTPProtectionProfiles,
		localSRTPMasterKeyIdentifier:  config.SRTPMasterKeyIdentifier,
		serverName:                    config.ServerName,
		supportedProtocols:            config.SupportedProtocols,
		clientAuth:                    config.ClientAuth,
		localCertificates:             config.Certificates,
		insecureSkipVerify:            config.InsecureSkipVerify,
		verifyPeerCertificate:         config.VerifyPeerCertificate,
		verifyConnection:              config.VerifyConnection,
		rootCAs:                       config.RootCAs,
		clientCAs:                     config.ClientCAs,
		customCipherSuites:            config.CustomCipherSuites,
		initialRetransmitInterval:     workerInterval,
		disableRetransmitBackoff:      config.DisableRetransmitBackoff,
		log:                           logger,
		initialEpoch:                  0,
		keyLogWriter:                  config.KeyLogWriter,
		sessionStore:                  config.SessionStore,
		ellipticCurves:                curves,
		localGetCertificate:           config.GetCertificate,
		localGetClientCertificate:     config.GetClientCertificate,
		insecureSkipHelloVerify:       config.InsecureSkipVerifyHello,
		connectionIDGenerator:         config.ConnectionIDGenerator,
		helloRandomBytesGenerator:     config.HelloRandomBytesGenerator,
		clientHelloMessageHook:        config.ClientHelloMessageHook,
		serverHelloMessageHook:        config.ServerHelloMessageHook,
		certificateRequestMessageHook: config.CertificateRequestMessageHook,
		resumeState:                   resumeState,
		minVersion:                    minVersion,
		maxVersion:                    maxVersion,
	}

	conn := &Conn{
		rAddr:                   rAddr,
		nextConn:                netctx.NewPacketConn(nextConn),
		handshakeConfig:         handshakeConfig,
		fragmentBuffer:          newFragmentBuffer(),
		handshakeCache:          newHandshakeCache(),
		maximumTransmissionUnit: mtu,
		paddingLengthGenerator:  paddingLengthGenerator,

		decrypted:     make(chan any, 1),
		readHandedOff: make(chan struct{}),
		log:           logger,

		readDeadline:  deadline.New(),
		writeDeadline: deadline.New(),

		reading:               make(chan struct{}, 1),
		handshakeRecv:         make(chan recvHandshakeState),
		closed:                closer.NewCloser(),
		cancelHandshaker:      func() {},
		cancelHandshakeReader: func() {},

		replayProtectionWindow: uint(replayProtectionWindow), //nolint:gosec // G115
		readOnCaller:           config.ReadOnCaller,          // deskport

		state: State{
			isClient:             isClient,
			remoteSequenceNumber: &atomic.Uint64{},
		},
	}

	conn.setRemoteEpoch(0)
	conn.setLocalEpoch(0)
	conn.writeGuard.setDeadline = nextConn.SetWriteDeadline
	conn.readGuard.setDeadline = nextConn.SetReadDeadline

	return conn, nil
}

// Handshake runs the client or server DTLS handshake
// protocol if it has not yet been run.
//
// Most uses of this package need not call Handshake explicitly: the
// first [Conn.Read] or [Conn.Write] will call it automatically.
//
// For control over canceling or setting a timeout on a handshake, use
// [Conn.HandshakeContext].
func (c *Conn) Handshake() error {
	return c.HandshakeContext(context.Background())
}

// HandshakeContext runs the client or server DTLS handshake
// protocol if it has not yet been run.
//
// The provided Context must be non-nil. If the context is canceled before
// the handshake is complete, the handshake is interrupted and an error is returned.
// Once the handshake has completed, cancellation of the context will not affect the
// connection.
//
// Most uses of this package need not call HandshakeContext explicitly: the
// first [Conn.Read] or [Conn.Write] will call it automatically.
func (c *Conn) HandshakeContext(ctx context.Context) error {
	c.handshakeMutex.Lock()
	defer c.handshakeMutex.Unlock()

	if c.isHandshakeCompletedSuccessfully() {
		return nil
	}

	handshakeDone := make(chan struct{})
	defer close(handshakeDone)
	c.closeLock.Lock()
	c.handshakeDone = handshakeDone
	c.closeLock.Unlock()

	var initialFlight flightVal
	var initialFSMState handshakeState

	if c.handshakeConfig.resumeState != nil { //nolint:nestif
		if c.state.isClient {
			initialFlight = flight5
		} else {
			initialFlight = flight6
		}
		initialFSMState = handshakeFinished

		c.state = *c.handshakeConfig.resumeState
	} else {
		if c.state.isClient {
			initialFlight = flight1
		} else {
			initialFlight = flight0
		}
		initialFSMState = handshakePreparing
	}
	// Do handshake
	if err := c.handshake(ctx, c.handshakeConfig, initialFlight, initialFSMState); err != nil {
		return err
	}

	c.log.Trace("Handshake Completed")

	return nil
}

// Dial connects to the given network address and establishes a DTLS connection on top.
//
// Deprecated: Use DialWithOptions instead.
func Dial(network string, rAddr *net.UDPAddr, config *Config) (*Conn, error) {
	// net.ListenUDP is used rather than net.DialUDP as the latter prevents the
	// use of net.PacketConn.WriteTo.
	// https://github.com/golang/go/blob/ce5e37ec21442c6eb13a43e68ca20129102ebac0/src/net/udpsock_posix.go#L115
	pConn, err := net.ListenUDP(network, nil)
	if err != nil {
		return nil, err
	}

	return Client(pConn, rAddr, config)
}

// DialWithOptions connects to the given network address and establishes a DTLS connection on top.
func DialWithOptions(network string, rAddr *net.UDPAddr, opts ...ClientOption) (*Conn, error) {
	config, err := buildClientConfig(opts...)
	if err != nil {
		return nil, err
	}

	return Dial(network, rAddr, config)
}

// Client establishes a DTLS connection over an existing connection.
//
// Deprecated: Use ClientWithOptions instead.
func Client(conn net.PacketConn, rAddr net.Addr, config *Config) (*Conn, error) {
	switch {
	case config == nil:
		return nil, errNoConfigProvided
	case config.PSK != nil && config.PSKIdentityHint == nil:
		return nil, errPSKAndIdentityMustBeSetForClient
	}

	if err := validateConfig(config); err != nil {
		return nil, err
	}

	return createConn(conn, rAddr, config, true, nil)
}

// ClientWithOptions establishes a DTLS connection over an existing connection.
func ClientWithOptions(conn net.PacketConn, rAddr net.Addr, opts ...ClientOption) (*Conn, error) {
	config, err := buildClientConfig(opts...)
	if err != nil {
		return nil, err
	}

	return Client(conn, rAddr, config)
}

// serverWithConfig is an internal helper that accepts a *Config.
func serverWithConfig(conn net.PacketConn, rAddr net.Addr, config *Config) (*Conn, error) {
	if config == nil {
		return nil, errNoConfigProvided
	}
	if config.OnConnectionAttempt != nil {
		if err := config.OnConnectionAttempt(rAddr); err != nil {
			return nil, err
		}
	}

	return createConn(conn, rAddr, config, false, nil)
}

// Server listens for incoming DTLS connections.
//
// Deprecated: Use ServerWithOptions instead.
func Server(conn net.PacketConn, rAddr net.Addr, config *Config) (*Conn, error) {
	if config == nil {
		return nil, errNoConfigProvided
	}

	if err := validateConfig(config); err != nil {
		return nil, err
	}

	return serverWithConfig(conn, rAddr, config)
}

// ServerWithOptions listens for incoming DTLS connections.
func ServerWithOptions(conn net.PacketConn, rAddr net.Addr, opts ...ServerOption) (*Conn, error) {
	config, err := buildServerConfig(opts...)
	if err != nil {
		return nil, err
	}

	return Server(conn, rAddr, config)
}

// Read reads data from the connection.
func (c *Conn) Read(buff []byte) (n int, err error) { //nolint:cyclop
	if err := c.Handshake(); err != nil {
		return 0, err
	}

	select {
	case <-c.readDeadline.Done():
		return 0, errDeadlineExceeded
	default:
	}
	if c.readOnCaller && !c.readCalled.Load() { // deskport
		c.readCalled.Store(true)
	}

	for {
		select {
		case <-c.closed.Done():
			return 0, io.EOF
		case <-c.readDeadline.Done():
			return 0, errDeadlineExceeded
		case out, ok := <-c.decrypted:
			if !ok {
				return 0, io.EOF
			}
			if n, err, done := readDecrypted(out, buff); done {
				return n, err
			}
		case <-c.readHandedOff: // deskport
			return c.readInline(buff)
		}
	}
}

// deskport: readDecrypted is what Read does with a value from decrypted.
func readDecrypted(out any, buff []byte) (int, error, bool) { //nolint:revive,staticcheck // as Read returned them
	switch val := out.(type) {
	case *protocol.ApplicationData: // deskport: a pointer, not a []byte boxed per record
		if len(buff) < len(val.Data) {
			return 0, errBufferTooSmall, true
		}
		copy(buff, val.Data)

		return len(val.Data), nil, true
	case ([]byte):
		if len(buff) < len(val) {
			return 0, errBufferTooSmall, true
		}
		copy(buff, val)

		return len(val), nil, true
	case (error):
		return 0, val, true
	}

	return 0, nil, false
}

// deskport: readInline is Read once the read loop has handed reading over: it reads datagrams
// from nextConn and decrypts them itself, as the read loop did, and returns their application
// data records one a call. Handshake records (a peer retransmitting its last flight) still go
// to the handshake FSM, alerts are answered, and errors end reading as they ended the read
// loop; the read deadline and Close interrupt the read from nextConn through readGuard.
// Without a Read in progress nothing reads nextConn (the read loop read ahead by one record).
func (c *Conn) readInline(buff []byte) (int, error) { //nolint:cyclop
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		// What the read loop decoded before it handed over comes first.
		select {
		case out, ok := <-c.decrypted:
			if ok {
				if n, err, done := readDecrypted(out, buff); done {
					return n, err
				}
			}
		default:
		}
		if c.readNext < len(c.readQueue) {
			val := c.readQueue[c.readNext]
			c.readQueue[c.readNext] = nil
			c.readNext++
			if c.readNext == len(c.readQueue) {
				c.readQueue, c.readNext = c.readQueue[:0], 0
			}
			if len(buff) < len(val) {
				return 0, errBufferTooSmall
			}

			return copy(buff, val), nil
		}
		if c.readErr != nil {
			return 0, c.readErr
		}
		select {
		case <-c.closed.Done():
			return 0, io.EOF
		default:
		}
		ctx := c.readDeadline.Context()
		if ctx.Err() != nil {
			return 0, errDeadlineExceeded
		}
		if c.readBuf == nil {
			c.readBuf = make([]byte, inboundBufferSize)
		}
		err := c.readAndBuffer(ctx, c.closed.Done(), &c.readQueue)
		if err == nil {
			continue
		}
		select {
		case <-c.closed.Done():
			return 0, io.EOF
		default:
		}
		if ctx.Err() != nil {
			return 0, errDeadlineExceeded
		}
		var alertErr *alertError
		if errors.As(err, &alertErr) {
			if !alertErr.IsFatalOrCloseNotify() {
				return 0, err // non-fatal alert must not stop reading
			}
			_ = c.close(false) //nolint:contextcheck
			c.endInlineRead()

			return 0, io.EOF
		}
		switch {
		case errors.Is(err, context.DeadlineExceeded),
			errors.Is(err, context.Canceled),
			errors.Is(err, io.EOF),
			errors.Is(err, net.ErrClosed):
			c.endInlineRead()

			return 0, io.EOF
		case errors.Is(err, recordlayer.ErrInvalidPacketLength):
			// Decode error must be silently discarded
			// [RFC6347 Section-4.1.2.7]
			continue
		default:
			return 0, err // pass the read error to Read and keep reading
		}
	}
}

// deskport: endInlineRead ends reading for good, as the read loop's end did: every Read returns
// io.EOF from now on, and the handshake FSM (kept for the peer's retransmissions) stops.
func (c *Conn) endInlineRead() {
	c.readErr = io.EOF
	c.closeLock.Lock()
	cancelHandshaker := c.cancelHandshaker
	c.closeLock.Unlock()
	cancelHandshaker()
}

// Write writes len(payload) bytes from payload to the DTLS connection.
func (c *Conn) Write(payload []byte) (int, error) {
	if c.isConnectionClosed() {
		return 0, ErrConnClosed
	}

	select {
	case <-c.writeDeadline.Done():
		return 0, errDeadlineExceeded
	default:
	}

	if err := c.Handshake(); err != nil {
		return 0, err
	}

	return len(payload), c.writeApplicationData(c.state.getLocalEpoch(), payload)
}

// deskport: writeApplicationData is writePackets for Write without a goroutine, channel or
// context.AfterFunc per call: the write deadline's context and Close interrupt the write
// through writeGuard.
func (c *Conn) writeApplicationData(epoch uint16, payload []byte) error {
	c.writeLock.Lock()
	defer c.writeLock.Unlock()

	var (
		rawPackets [][]byte
		rAddr      net.Addr
		err        error
		one        [1][]byte
	)
	if len(c.state.remoteConnectionID) > 0 || len(payload) > maxSealedPayload {
		rawPackets, rAddr, err = c.prepareRawPackets([]*packet{
			{
				record: &recordlayer.RecordLayer{
					Header: recordlayer.Header{
						Epoch:   epoch,
						Version: protocol.Version1_2,
					},
					Content: &protocol.ApplicationData{
						Data: payload,
					},
				},
				shouldWrapCID: len(c.state.remoteConnectionID) > 0,
				shouldEncrypt: true,
			},
		})
	} else {
		one[0], rAddr, err = c.sealApplicationData(epoch, payload)
		rawPackets = one[:]
	}
	if err != nil {
		return err
	}

	ctx := c.writeDeadline.Context()
	if !c.writeGuard.begin(ctx, c.closed.Done()) {
		if c.isConnectionClosed() {
			return ErrConnClosed
		}

		return errDeadlineExceeded
	}
	next := c.nextConn.Conn()
	for _, rawPacket := range rawPackets {
		if _, err = next.WriteTo(rawPacket, rAddr); err != nil {
			break
		}
	}
	c.writeGuard.end()

	switch {
	case err == nil:
		return nil
	case c.isConnectionClosed():
		return ErrConnClosed
	case ctx.Err() != nil:
		return errDeadlineExceeded
	default:
		return netError(err)
	}
}

// Close closes the connection.
func (c *Conn) Close() error {
	err := c.close(true) //nolint:contextcheck
	c.closeLock.Lock()
	handshakeDone := c.handshakeDone
	c.closeLock.Unlock()
	if handshakeDone != nil {
		<-handshakeDone
	}

	return err
}

// ConnectionState returns basic DTLS details about the connection.
// Note that this replaced the `Export` function of v1.
//
// This is a snapshot: the connection remains active. Restoring
// it can reuse encryption nonces if the original sends any further records.
// See ResumeWithOptions for the safety requirements for state restoration.
func (c *Conn) ConnectionState() (State, bool) {
	c.lock.RLock()
	defer c.lock.RUnlock()
	stateClone, err := c.state.clone()
	if err != nil {
		return State{}, false
	}

	return *stateClone, true
}

// SelectedSRTPProtectionProfile returns the selected SRTPProtectionProfile.
func (c *Conn) SelectedSRTPProtectionProfile() (SRTPProtectionProfile, bool) {
	profile := c.state.getSRTPProtectionProfile()
	if profile == 0 {
		return 0, false
	}

	return profile, true
}

// RemoteSRTPMasterKeyIdentifier returns the MasterKeyIdentifier value from the use_srtp.
func (c *Conn) RemoteSRTPMasterKeyIdentifier() ([]byte, bool) {
	if profile := c.state.getSRTPProtectionProfile(); profile == 0 {
		return nil, false
	}

	return bytes.Clone(c.state.remoteSRTPMasterKeyIdentifier), true
}

func (c *Conn) writePackets(ctx context.Context, pkts []*packet) error {
	c.writeLock.Lock()
	defer c.writeLock.Unlock()

	compactedRawPackets, rAddr, err := c.prepareRawPackets(pkts)
	if err != nil {
		return err
	}

	for _, compactedRawPacket := range compactedRawPackets {
		if _, err = c.nextConn.WriteToContext(ctx, compactedRawPacket, rAddr); err != nil {
			if errors.Is(err, context.Canceled) && c.isConnectionClosed() {
				return ErrConnClosed
			}

			return netError(err)
		}
	}

	return nil
}

// deskport: recordSealOverhead is the room an AEAD cipher needs after a record's plaintext
// (an 8-byte explicit nonce and a tag of up to 16 bytes) to seal it in place.
const recordSealOverhead = 8 + 16

// deskport: sealBufSize is the capacity sealBuf starts with: a record of a 1500-byte datagram.
const sealBufSize = 1536

// deskport: maxSealedPayload is the largest payload sealApplicationData takes: its record's
// length must fit the header's 16 bits. (Larger ones take upstream's path, as before.)
const maxSealedPayload = 0xffff - recordSealOverhead

// deskport: sealApplicationData is prepareRawPackets for one application data record without
// a connection ID: the header and payload go into one buffer with room for the AEAD's nonce
// and tag, which the cipher seals in place, instead of the packet, record and content structs
// and the four buffers (content, header, record, ciphertext) processPacket allocates.
func (c *Conn) sealApplicationData(epoch uint16, payload []byte) ([]byte, net.Addr, error) {
	c.lock.Lock()
	defer c.lock.Unlock()

	if len(payload) > maxSealedPayload {
		return nil, nil, errBufferTooSmall // writeApplicationData never asks
	}
	for len(c.state.localSequenceNumber) <= int(epoch) {
		c.state.localSequenceNumber = append(c.state.localSequenceNumber, uint64(0))
	}
	seq := atomic.AddUint64(&c.state.localSequenceNumber[epoch], 1) - 1
	if seq > recordlayer.MaxSequenceNumber {
		// RFC 6347 Section 4.1.0
		return nil, nil, errSequenceNumberOverflow
	}
	// The cipher suite takes the record through an interface, which would put a local on the
	// heap; c.sealRecord is guarded by c.lock.
	record := &c.sealRecord
	*record = recordlayer.RecordLayer{
		Header: recordlayer.Header{
			ContentType:    protocol.ContentTypeApplicationData,
			ContentLen:     uint16(len(payload)), //nolint:gosec // G115, checked above
			Version:        protocol.Version1_2,
			Epoch:          epoch,
			SequenceNumber: seq,
		},
	}
	size := recordlayer.FixedHeaderSize + len(payload)
	// deskport: the record is sealed into c.sealBuf, reused record after record: the caller
	// (writeApplicationData) holds writeLock until the record has been written, and the
	// underlying connection's WriteTo keeps nothing of it once it returns.
	if cap(c.sealBuf) < size+recordSealOverhead {
		c.sealBuf = make([]byte, 0, max(size+recordSealOverhead, sealBufSize))
	}
	raw := c.sealBuf[:size]
	raw[0] = byte(protocol.ContentTypeApplicationData)
	raw[1] = protocol.Version1_2.Major
	raw[2] = protocol.Version1_2.Minor
	binary.BigEndian.PutUint16(raw[3:], epoch)
	util.PutBigEndianUint48(raw[5:], seq)
	binary.BigEndian.PutUint16(raw[11:], uint16(len(payload))) //nolint:gosec // G115, checked above
	copy(raw[recordlayer.FixedHeaderSize:], payload)

	raw, err := c.state.cipherSuite.Encrypt(record, raw)
	if err != nil {
		return nil, nil, err
	}

	return raw, c.rAddr, nil
}

func (c *Conn) prepareRawPackets(pkts []*packet) ([][]byte, net.Addr, error) {
	c.lock.Lock()
	defer c.lock.Unlock()

	var rawPackets [][]byte

	for _, pkt := range pkts {
		pktRawPackets, err := c.prepareRawPacket(pkt)
		if err != nil {
			return nil, nil, err
		}

		rawPackets = append(rawPackets, pktRawPackets...)
	}
	if len(rawPackets) == 0 {
		return nil, nil, nil
	}

	return c.compactRawPackets(rawPackets), c.rAddr, nil
}

func (c *Conn) prepareRawPacket(pkt *packet) ([][]byte, error) {
	dtlsHandshake, ok := pkt.record.Content.(*handshake.Handshake)
	if ok {
		if err := c.cacheHandshakePacket(pkt, dtlsHandshake); err != nil {
			return nil, err
		}

		return c.processHandshakePacket(pkt, dtlsHandshake)
	}

	rawPacket, err := c.processPacket(pkt)
	if err != nil {
		return nil, err
	}

	return [][]byte{rawPacket}, nil
}

func (c *Conn) cacheHandshakePacket(pkt *packet, dtlsHandshake *handshake.Handshake) error {
	handshakeRaw, err := pkt.record.Marshal()
	if err != nil {
		return err
	}

	c.log.Tracef("[handshake:%v] -> %s (epoch: %d, seq: %d)",
		srvCliStr(c.state.isClient), dtlsHandshake.Header.Type.String(),
		pkt.record.Header.Epoch, dtlsHandshake.Header.MessageSequence)

	return c.handshakeCache.push(
		handshakeRaw[recordlayer.FixedHeaderSize:],
		pkt.record.Header.Epoch,
		dtlsHandshake.Header.MessageSequence,
		dtlsHandshake.Header.Type,
		c.state.isClient,
	)
}

func (c *Conn) compactRawPackets(rawPackets [][]byte) [][]byte {
	// avoid a useless copy in the common case
	if len(rawPackets) == 1 {
		return rawPackets
	}

	combinedRawPackets := make([][]byte, 0)
	currentCombinedRawPacket := make([]byte, 0)

	for _, rawPacket := range rawPackets {
		if len(currentCombinedRawPacket) > 0 && len(currentCombinedRawPacket)+len(rawPacket) >= c.maximumTransmissionUnit {
			combinedRawPackets = append(combinedRawPackets, currentCombinedRawPacket)
			currentCombinedRawPacket = []byte{}
		}
		currentCombinedRawPacket = append(currentCombinedRawPacket, rawPacket...)
	}

	combinedRawPackets = append(combinedRawPackets, currentCombinedRawPacket)

	return combinedRawPackets
}

func (c *Conn) processPacket(pkt *packet) ([]byte, error) { //nolint:cyclop
	epoch := pkt.record.Header.Epoch
	for len(c.state.localSequenceNumber) <= int(epoch) {
		c.state.localSequenceNumber = append(c.state.localSequenceNumber, uint64(0))
	}
	seq := atomic.AddUint64(&c.state.localSequenceNumber[epoch], 1) - 1
	if seq > recordlayer.MaxSequenceNumber {
		// RFC 6347 Section 4.1.0
		// The implementation must either abandon an association or rehandshake
		// prior to allowing the sequence number to wrap.
		return nil, errSequenceNumberOverflow
	}
	pkt.record.Header.SequenceNumber = seq

	var rawPacket []byte
	if pkt.shouldWrapCID { //nolint:nestif
		// Record must be marshaled to populate fields used in inner plaintext.
		if _, err := pkt.record.Marshal(); err != nil {
			return nil, err
		}
		content, err := pkt.record.Content.Marshal()
		if err != nil {
			return nil, err
		}
		inner := &recordlayer.InnerPlaintext{
			Content:  content,
			RealType: pkt.record.Header.ContentType,
		}
		rawInner, err := inner.Marshal() //nolint:govet
		if err != nil {
			return nil, err
		}
		cidHeader := &recordlayer.Header{
			Version:        pkt.record.Header.Version,
			ContentType:    protocol.ContentTypeConnectionID,
			Epoch:          pkt.record.Header.Epoch,
			ContentLen:     uint16(len(rawInner)), //nolint:gosec //G115
			ConnectionID:   c.state.remoteConnectionID,
			SequenceNumber: pkt.record.Header.SequenceNumber,
		}
		rawPacket, err = cidHeader.Marshal()
		if err != nil {
			return nil, err
		}
		pkt.record.Header = *cidHeader
		rawPacket = append(rawPacket, rawInner...)
	} else {
		var err error
		rawPacket, err = pkt.record.Marshal()
		if err != nil {
			return nil, err
		}
	}

	if pkt.shouldEncrypt {
		var err error
		rawPacket, err = c.state.cipherSuite.Encrypt(pkt.record, rawPacket)
		if err != nil {
			return nil, err
		}
	}

	return rawPacket, nil
}

//nolint:cyclop
func (c *Conn) processHandshakePacket(pkt *packet, dtlsHandshake *handshake.Handshake) ([][]byte, error) {
	rawPackets := make([][]byte, 0)

	handshakeFragments, err := c.fragmentHandshake(dtlsHandshake)
	if err != nil {
		return nil, err
	}
	epoch := pkt.record.Header.Epoch
	for len(c.state.localSequenceNumber) <= int(epoch) {
		c.state.localSequenceNumber = append(c.state.localSequenceNumber, uint64(0))
	}

	for _, handshakeFragment := range handshakeFragments {
		seq := atomic.AddUint64(&c.state.localSequenceNumber[epoch], 1) - 1
		if seq > recordlayer.MaxSequenceNumber {
			return nil, errSequenceNumberOverflow
		}

		var rawPacket []byte
		if pkt.shouldWrapCID {
			inner := &recordlayer.InnerPlaintext{
				Content:  handshakeFragment,
				RealType: protocol.ContentTypeHandshake,
				Zeros:    c.paddingLengthGenerator(uint(len(handshakeFragment))),
			}
			rawInner, err := inner.Marshal() //nolint:govet
			if err != nil {
				return nil, err
			}
			cidHeader := &recordlayer.Header{
				Version:        pkt.record.Header.Version,
				ContentType:    protocol.ContentTypeConnectionID,
				Epoch:          pkt.record.Header.Epoch,
				ContentLen:     uint16(len(rawInner)), //nolint:gosec //G115
				ConnectionID:   c.state.remoteConnectionID,
				SequenceNumber: pkt.record.Header.SequenceNumber,
			}
			rawPacket, err = cidHeader.Marshal()
			if err != nil {
				return nil, err
			}
			pkt.record.Header = *cidHeader
			rawPacket = append(rawPacket, rawInner...)
		} else {
			recordlayerHeader := &recordlayer.Header{
				Version:        pkt.record.Header.Version,
				ContentType:    pkt.record.Header.ContentType,
				ContentLen:     uint16(len(handshakeFragment)), //nolint:gosec // G115
				Epoch:          pkt.record.Header.Epoch,
				SequenceNumber: seq,
			}

			rawPacket, err = recordlayerHeader.Marshal()
			if err != nil {
				return nil, err
			}

			pkt.record.Header = *recordlayerHeader
			rawPacket = append(rawPacket, handshakeFragment...)
		}

		if pkt.shouldEncrypt {
			var err error
			rawPacket, err = c.state.cipherSuite.Encrypt(pkt.record, rawPacket)
			if err != nil {
				return nil, err
			}
		}

		rawPackets = append(rawPackets, rawPacket)
	}

	return rawPackets, nil
}

func (c *Conn) fragmentHandshake(dtlsHandshake *handshake.Handshake) ([][]byte, error) {
	content, err := dtlsHandshake.Message.Marshal()
	if err != nil {
		return nil, err
	}

	fragmentedHandshakes := make([][]byte, 0)

	contentFragments := splitBytes(content, c.maximumTransmissionUnit)
	if len(contentFragments) == 0 {
		contentFragments = [][]byte{
			{},
		}
	}

	offset := 0
	for _, contentFragment := range contentFragments {
		contentFragmentLen := len(contentFragment)

		headerFragment := &handshake.Header{
			Type:            dtlsHandshake.Header.Type,
			Length:          dtlsHandshake.Header.Length,
			MessageSequence: dtlsHandshake.Header.MessageSequence,
			FragmentOffset:  uint32(offset),             //nolint:gosec // G115
			FragmentLength:  uint32(contentFragmentLen), //nolint:gosec // G115
		}

		offset += contentFragmentLen

		fragmentedHandshake, err := headerFragment.Marshal()
		if err != nil {
			return nil, err
		}

		fragmentedHandshake = append(fragmentedHandshake, contentFragment...)
		fragmentedHandshakes = append(fragmentedHandshakes, fragmentedHandshake)
	}

	return fragmentedHandshakes, nil
}

var poolReadBuffer = sync.Pool{ //nolint:gochecknoglobals
	New: func() any {
		b := make([]byte, inboundBufferSize)

		return &b
	},
}

// deskport: done (Close, for an inline read) ends the read as ctx does. If sink is not nil (an
// inline read), the datagram is read into c.readBuf and decrypted there, and sink gets the
// records of application data as slices of it; otherwise they go to decrypted.
func (c *Conn) readAndBuffer(ctx context.Context, done <-chan struct{}, sink *[][]byte) error { //nolint:cyclop
	var b []byte
	if sink != nil {
		b = c.readBuf
	} else {
		bufptr, ok := poolReadBuffer.Get().(*[]byte)
		if !ok {
			return errFailedToAccessPoolReadBuffer
		}
		defer poolReadBuffer.Put(bufptr)
		b = *bufptr
	}
	i, rAddr, err := c.readFromContext(ctx, done, b)
	if err != nil {
		return netError(err)
	}

	var pktsArray [8][]byte // deskport: a datagram's records without an allocation
	pkts, err := recordlayer.ContentAwareUnpackDatagramTo(pktsArray[:0], b[:i], len(c.state.getLocalConnectionID()))
	if err != nil {
		return err
	}

	var hasHandshake, isRetransmit, isClientHelloRetransmit bool
	for _, packet := range pkts {
		hs, rtx, alert, err := c.handleIncomingPacketTo(ctx, packet, rAddr, true, sink)
		if alert != nil {
			if alertErr := c.notify(ctx, alert.Level, alert.Description); alertErr != nil {
				if err == nil {
					err = alertErr
				}
			}
		}

		if err != nil { // deskport: errors.As's target only then (it escapes, an allocation)
			var e *alertError
			if errors.As(err, &e) && e.IsFatalOrCloseNotify() {
				return e
			}

			return err
		}
		if hs {
			hasHandshake = true
			isClientHelloRetransmit = isClientHelloRetransmit || c.handshakeCache.isClientHelloRetransmit(packet)
		}
		if rtx {
			isRetransmit = true
		}
	}
	if hasHandshake {
		s := recvHandshakeState{
			done:                    make(chan struct{}),
			isRetransmit:            isRetransmit,
			isClientHelloRetransmit: isClientHelloRetransmit,
		}
		select {
		case c.handshakeRecv <- s:
			// If the other party may retransmit the flight,
			// we should respond even if it not a new message.
			<-s.done
		case <-c.fsm.Done():
		}
	}

	return nil
}

// deskport: readFromContext is netctx's ReadFromContext without a context.AfterFunc per
// packet: readGuard watches ctx (the read loop's, the same for every packet).
func (c *Conn) readFromContext(ctx context.Context, done <-chan struct{}, b []byte) (int, net.Addr, error) {
	if !c.readGuard.begin(ctx, done) {
		return 0, nil, ctx.Err()
	}
	n, rAddr, err := c.nextConn.Conn().ReadFrom(b)
	c.readGuard.end()
	// Preserve I/O that has already made progress.
	if ctxErr := ctx.Err(); n == 0 && ctxErr != nil {
		err = ctxErr
	}

	return n, rAddr, err
}

func (c *Conn) handleQueuedPackets(ctx context.Context) error {
	c.lock.Lock()
	pkts := c.encryptedPackets
	c.encryptedPackets = nil
	c.lock.Unlock()

	for _, p := range pkts {
		_, _, alert, err := c.handleIncomingPacket(ctx, p.data, p.rAddr, false) // don't re-enqueue
		if alert != nil {
			if alertErr := c.notify(ctx, alert.Level, alert.Description); alertErr != nil {
				if err == nil {
					err = alertErr
				}
			}
		}
		var e *alertError
		if errors.As(err, &e) && e.IsFatalOrCloseNotify() {
			return e
		}
		if err != nil {
			return err
		}
	}

	return nil
}

func (c *Conn) enqueueEncryptedPackets(packet addrPkt) bool {
	c.lock.Lock()
	defer c.lock.Unlock()

	if len(c.encryptedPackets) < maxAppDataPacketQueueSize {
		packet.data = bytes.Clone(packet.data) // the read buffer comes from poolReadBuffer and is reused
		c.encryptedPackets = append(c.encryptedPackets, packet)

		return true
	}

	return false
}

func (c *Conn) handleIncomingPacket(
	ctx context.Context,
	buf []byte,
	rAddr net.Addr,
	enqueue bool,
) (bool, bool, *alert.Alert, error) {
	return c.handleIncomingPacketTo(ctx, buf, rAddr, enqueue, nil)
}

// deskport: handleIncomingPacketTo is handleIncomingPacket that puts records of application data
// into sink if it is not nil (an inline read: the decrypted bytes in place, a slice of buf),
// into decrypted otherwise.
//
//nolint:gocognit,gocyclo,cyclop,maintidx
func (c *Conn) handleIncomingPacketTo(
	ctx context.Context,
	buf []byte,
	rAddr net.Addr,
	enqueue bool,
	sink *[][]byte,
) (bool, bool, *alert.Alert, error) {
	header := recordlayer.Header{} // deskport: not escaping, not allocated
	// Set connection ID size so that records of content type tls12_cid will
	// be parsed correctly.
	if len(c.state.getLocalConnectionID()) > 0 {
		header.ConnectionID = make([]byte, len(c.state.getLocalConnectionID()))
	}
	if err := header.Unmarshal(buf); err != nil {
		// Decode error must be silently discarded
		// [RFC6347 Section-4.1.2.7]
		c.log.Debugf("discarded broken packet: %v", err)

		return false, false, nil, nil
	}
	// Validate epoch
	remoteEpoch := c.state.getRemoteEpoch()
	// DTLS 1.2 accepts old epochs until the handshake completes (RFC 6347, Section 4.1).
	if header.Epoch == 0 && header.ContentType == protocol.ContentTypeAlert && remoteEpoch != 0 &&
		c.isHandshakeCompletedSuccessfully() {
		c.log.Debug("discarded alert from the old plaintext epoch")

		return false, false, nil, nil
	}
	if header.Epoch > 1 {
		return false, false, nil, nil
	}
	if header.Epoch > 0 && header.SequenceNumber < c.state.remoteReplayCutoff {
		return false, false, nil, nil
	}
	if header.Epoch > remoteEpoch {
		if header.Epoch > remoteEpoch+1 {
			c.log.Debugf("discarded future packet (epoch: %d, seq: %d)",
				header.Epoch, header.SequenceNumber,
			)

			return false, false, nil, nil
		}
		if enqueue {
			if ok := c.enqueueEncryptedPackets(addrPkt{rAddr, buf}); ok {
				c.log.Debug("received packet of next epoch, queuing packet")
			}
		}

		return false, false, nil, nil
	}

	// Anti-replay protection
	for len(c.state.replayDetector) <= int(header.Epoch) {
		c.state.replayDetector = append(c.state.replayDetector,
			replaydetector.New(c.replayProtectionWindow, recordlayer.MaxSequenceNumber),
		)
	}
	// deskport: pion/transport's CheckAccepter checks without a closure per record.
	var markReplay replayMark
	ok := false
	if det, isCA := c.state.replayDetector[int(header.Epoch)].(replaydetector.CheckAccepter); isCA {
		markReplay.detector, markReplay.token = det, det.CheckSeq(header.SequenceNumber)
		ok = markReplay.token.Passed()
	} else {
		markReplay.accept, ok = c.state.replayDetector[int(header.Epoch)].Check(header.SequenceNumber)
	}
	if !ok {
		c.log.Debugf("discarded duplicated packet (epoch: %d, seq: %d)",
			header.Epoch, header.SequenceNumber,
		)

		return false, false, nil, nil
	}

	// deskport: c.markPacketAsValid(markReplay, ...), not a closure over header allocated per record.

	// originalCID indicates whether the original record had content type
	// Connection ID.
	originalCID := false

	// Decrypt
	if header.Epoch != 0 { //nolint:nestif
		if c.state.cipherSuite == nil || !c.state.cipherSuite.IsInitialized() {
			if enqueue {
				if ok := c.enqueueEncryptedPackets(addrPkt{rAddr, buf}); ok {
					c.log.Debug("handshake not finished, queuing packet")
				}
			}

			return false, false, nil, nil
		}

		// If a connection identifier had been negotiated and encryption is
		// enabled, the connection identifier MUST be sent.
		if len(c.state.getLocalConnectionID()) > 0 && header.ContentType != protocol.ContentTypeConnectionID {
			c.log.Debug("discarded packet missing connection ID after value negotiated")

			return false, false, nil, nil
		}

		var err error
		var hdr recordlayer.Header
		if header.ContentType == protocol.ContentTypeConnectionID {
			hdr.ConnectionID = make([]byte, len(c.state.getLocalConnectionID()))
		}
		buf, err = c.state.cipherSuite.Decrypt(hdr, buf)
		if err != nil {
			c.log.Debugf("%s: decrypt failed: %s", srvCliStr(c.state.isClient), err)

			return false, false, nil, nil
		}
		// If this is a connection ID record, make it look like a normal record for
		// further processing.
		if header.ContentType == protocol.ContentTypeConnectionID {
			originalCID = true
			ip := &recordlayer.InnerPlaintext{}
			if err := ip.Unmarshal(buf[header.Size():]); err != nil { //nolint:govet
				c.log.Debugf("unpacking inner plaintext failed: %s", err)

				return false, false, nil, nil
			}
			unpacked := &recordlayer.Header{
				ContentType:    ip.RealType,
				ContentLen:     uint16(len(ip.Content)), //nolint:gosec // G115
				Version:        header.Version,
				Epoch:          header.Epoch,
				SequenceNumber: header.SequenceNumber,
			}
			buf, err = unpacked.Marshal()
			if err != nil {
				c.log.Debugf("converting CID record to inner plaintext failed: %s", err)

				return false, false, nil, nil
			}
			buf = append(buf, ip.Content...)
		}

		// If connection ID does not match discard the packet.
		if !bytes.Equal(c.state.getLocalConnectionID(), header.ConnectionID) {
			c.log.Debug("unexpected connection ID")

			return false, false, nil, nil
		}
	}

	// deskport: the fragment buffer keeps handshake records only; copy those alone, not every
	// application data record (buf is the pooled read buffer).
	pushed := buf
	if len(buf) > 0 && protocol.ContentType(buf[0]) == protocol.ContentTypeHandshake {
		pushed = append([]byte{}, buf...)
	}
	isHandshake, isRetransmit, err := c.fragmentBuffer.push(pushed)
	if err != nil {
		// Decode error must be silently discarded
		// [RFC6347 Section-4.1.2.7]
		c.log.Debugf("defragment failed: %s", err)

		return false, false, nil, nil
	} else if isHandshake {
		c.markPacketAsValid(markReplay, header.Epoch, header.SequenceNumber)

		for out, epoch := c.fragmentBuffer.pop(); out != nil; out, epoch = c.fragmentBuffer.pop() {
			header := &handshake.Header{}
			if err := header.Unmarshal(out); err != nil {
				c.log.Debugf("%s: handshake parse failed: %s", srvCliStr(c.state.isClient), err)

				continue
			}
			if err := c.handshakeCache.push(out, epoch, header.MessageSequence, header.Type, !c.state.isClient); err != nil {
				return false, false, &alert.Alert{Level: alert.Fatal, Description: alert.InternalError}, err
			}
		}

		return true, isRetransmit, nil, nil
	}

	// deskport: an inline read takes application data where it was decrypted, without
	// ApplicationData's copy (and its allocation) of every record.
	if sink != nil && len(buf) > 0 && protocol.ContentType(buf[0]) == protocol.ContentTypeApplicationData {
		var h recordlayer.Header
		if err := h.Unmarshal(buf); err != nil {
			return false, false, &alert.Alert{Level: alert.Fatal, Description: alert.DecodeError}, err
		}
		if header.Epoch == 0 {
			return false, false, &alert.Alert{
				Level: alert.Fatal, Description: alert.UnexpectedMessage,
			}, errApplicationDataEpochZero
		}
		isLatestSeqNum := c.markPacketAsValid(markReplay, header.Epoch, header.SequenceNumber)
		*sink = append(*sink, buf[h.Size():])
		if originalCID && isLatestSeqNum && rAddr != c.RemoteAddr() {
			c.lock.Lock()
			c.rAddr = rAddr
			c.lock.Unlock()
		}

		return false, false, nil, nil
	}

	var r recordlayer.RecordLayer // deskport: not escaping, not allocated
	if err := r.Unmarshal(buf); err != nil {
		return false, false, &alert.Alert{Level: alert.Fatal, Description: alert.DecodeError}, err
	}

	isLatestSeqNum := false
	switch content := r.Content.(type) {
	case *alert.Alert:
		c.log.Tracef("%s: <- %s", srvCliStr(c.state.isClient), content.String())
		var a *alert.Alert
		if content.Description == alert.CloseNotify {
			// Respond with a close_notify [RFC5246 Section 7.2.1]
			a = &alert.Alert{Level: alert.Warning, Description: alert.CloseNotify}
		}
		_ = c.markPacketAsValid(markReplay, header.Epoch, header.SequenceNumber)

		return false, false, a, &alertError{content}
	case *protocol.ChangeCipherSpec:
		if header.Epoch != 0 {
			return false, false, nil, nil
		}
		if c.state.cipherSuite == nil || !c.state.cipherSuite.IsInitialized() {
			if enqueue {
				if ok := c.enqueueEncryptedPackets(addrPkt{rAddr, buf}); ok {
					c.log.Debugf("CipherSuite not initialized, queuing packet")
				}
			}

			return false, false, nil, nil
		}

		newRemoteEpoch := header.Epoch + 1
		c.log.Tracef("%s: <- ChangeCipherSpec (epoch: %d)", srvCliStr(c.state.isClient), newRemoteEpoch)

		if c.state.getRemoteEpoch()+1 == newRemoteEpoch {
			c.setRemoteEpoch(newRemoteEpoch)
			isLatestSeqNum = c.markPacketAsValid(markReplay, header.Epoch, header.SequenceNumber)
		}
	case *protocol.ApplicationData:
		if header.Epoch == 0 {
			return false, false, &alert.Alert{
				Level: alert.Fatal, Description: alert.UnexpectedMessage,
			}, errApplicationDataEpochZero
		}

		isLatestSeqNum = c.markPacketAsValid(markReplay, header.Epoch, header.SequenceNumber)

		if !c.isHandshakeCompletedSuccessfully() {
			// Read waits for the handshake to complete. Never block its packet
			// reader on early application data: Finished may still be pending.
			select {
			case c.decrypted <- content: // deskport: Read takes *protocol.ApplicationData
			default:
			}
		} else {
			select {
			case c.decrypted <- content:
			case <-c.closed.Done():
			case <-ctx.Done():
			}
		}

	default:
		return false, false, &alert.Alert{
			Level: alert.Fatal, Description: alert.UnexpectedMessage,
		}, fmt.Errorf("%w: %d", errUnhandledContextType, content.ContentType())
	}

	// Any valid connection ID record is a candidate for updating the remote
	// address if it is the latest record received.
	// https://datatracker.ietf.org/doc/html/rfc9146#peer-address-update
	if originalCID && isLatestSeqNum {
		if rAddr != c.RemoteAddr() {
			c.lock.Lock()
			c.rAddr = rAddr
			c.lock.Unlock()
		}
	}

	return false, false, nil, nil
}

// deskport: replayMark marks a record that passed the replay check as received: through a
// CheckAccepter's token (no allocation) or, for a detector without one, the closure of Check.
type replayMark struct {
	detector replaydetector.CheckAccepter
	token    replaydetector.Token
	accept   func() bool
}

func (m replayMark) mark() bool {
	if m.detector != nil {
		return m.detector.Accept(m.token)
	}

	return m.accept()
}

// markPacketAsValid marks a record as received in the replay detector (markReplay, from
// its Check) and advances the highest remote sequence number seen.
func (c *Conn) markPacketAsValid(markReplay replayMark, epoch uint16, sequenceNumber uint64) bool {
	latest := markReplay.mark()
	if epoch > 0 {
		next := sequenceNumber + 1
		for previous := c.state.remoteSequenceNumber.Load(); next > previous; {
			if c.state.remoteSequenceNumber.CompareAndSwap(previous, next) {
				break
			}
			previous = c.state.remoteSequenceNumber.Load()
		}
	}

	return latest
}

func (c *Conn) recvHandshake() <-chan recvHandshakeState {
	return c.handshakeRecv
}

func (c *Conn) notify(ctx context.Context, level alert.Level, desc alert.Description) error {
	if level == alert.Fatal && len(c.state.SessionID) > 0 {
		// According to the RFC, we need to delete the stored session.
		// https://datatracker.ietf.org/doc/html/rfc5246#section-7.2
		if ss := c.fsm.cfg.sessionStore; ss != nil {
			c.log.Tracef("clean invalid session: %s", c.state.SessionID)
			if err := ss.Del(c.sessionKey()); err != nil {
				return err
			}
		}
	}

	return c.writePackets(ctx, []*packet{
		{
			record: &recordlayer.RecordLayer{
				Header: recordlayer.Header{
					Epoch:   c.state.getLocalEpoch(),
					Version: protocol.Version1_2,
				},
				Content: &alert.Alert{
					Level:       level,
					Description: desc,
				},
			},
			shouldWrapCID: len(c.state.remoteConnectionID) > 0,
			shouldEncrypt: c.isHandshakeCompletedSuccessfully(),
		},
	})
}

func (c *Conn) setHandshakeCompletedSuccessfully() bool {
	c.lock.Lock()
	defer c.lock.Unlock()
	if c.isHandshakeCompletedSuccessfully() {
		return false
	}
	c.state.handshakeComplete = true
	if !c.handshakeCompletedSuccessfully.CompareAndSwap(false, true) {
		return false
	}
	c.handshakeCache.finish()

	return true
}

func (c *Conn) isHandshakeCompletedSuccessfully() bool {
	return c.handshakeCompletedSuccessfully.Load()
}

//nolint:cyclop,gocognit,contextcheck
func (c *Conn) handshake(
	ctx context.Context,
	cfg *handshakeConfig,
	initialFlight flightVal,
	initialState handshakeState,
) error {
	c.fsm = newHandshakeFSM(&c.state, c.handshakeCache, cfg, initialFlight)

	done := make(chan struct{})
	ctxRead, cancelRead := context.WithCancel(context.Background())
	cfg.onFlightState = func(_ flightVal, s handshakeState) {
		if s == handshakeFinished && c.setHandshakeCompletedSuccessfully() {
			close(done)
		}
	}

	ctxHs, cancel := context.WithCancel(context.Background())

	c.closeLock.Lock()
	c.cancelHandshaker = cancel
	c.cancelHandshakeReader = cancelRead
	c.closeLock.Unlock()

	firstErr := make(chan error, 1)

	var handshakeLoopsFinished sync.WaitGroup
	handshakeLoopsFinished.Add(2)

	// Handshake routine should be live until close.
	// The other party may request retransmission of the last flight to cope with packet drop.
	go func() {
		defer handshakeLoopsFinished.Done()
		err := c.fsm.Run(ctxHs, c, initialState)
		if !errors.Is(err, context.Canceled) {
			select {
			case firstErr <- err:
			default:
			}
		}
	}()
	go func() {
		handedOff := false // deskport
		defer func() {
			if handedOff {
				return // deskport: Read reads now; the handshake FSM stays for retransmissions
			}
			if c.isHandshakeCompletedSuccessfully() {
				// Escaping read loop.
				// It's safe to close decrypted channnel now.
				close(c.decrypted)
			}

			// Force stop handshaker when the underlying connection is closed.
			cancel()
		}()
		defer handshakeLoopsFinished.Done()
		for {
			// deskport: once the handshake has completed, Read reads (readInline).
			if c.readOnCaller && c.readCalled.Load() && c.isHandshakeCompletedSuccessfully() {
				handedOff = true
				close(c.readHandedOff)

				return
			}
			if err := c.readAndBuffer(ctxRead, nil, nil); err != nil { //nolint:nestif
				var alertErr *alertError
				if errors.As(err, &alertErr) {
					if !alertErr.IsFatalOrCloseNotify() {
						if c.isHandshakeCompletedSuccessfully() {
							// Pass the error to Read()
							select {
							case c.decrypted <- err:
							case <-c.closed.Done():
							case <-ctxRead.Done():
							}
						}

						continue // non-fatal alert must not stop read loop
					}
				} else {
					switch {
					case errors.Is(err, context.DeadlineExceeded),
						errors.Is(err, context.Canceled),
						errors.Is(err, io.EOF),
						errors.Is(err, net.ErrClosed):
					case errors.Is(err, recordlayer.ErrInvalidPacketLength):
						// Decode error must be silently discarded
						// [RFC6347 Section-4.1.2.7]
						continue
					default:
						if c.isHandshakeCompletedSuccessfully() {
							// Keep read loop and pass the read error to Read()
							select {
							case c.decrypted <- err:
							case <-c.closed.Done():
							case <-ctxRead.Done():
							}

							continue // non-fatal alert must not stop read loop
						}
					}
				}

				select {
				case firstErr <- err:
				default:
				}

				if alertErr != nil {
					if alertErr.IsFatalOrCloseNotify() {
						_ = c.close(false) //nolint:contextcheck
					}
				}
				if !c.isConnectionClosed() && errors.Is(err, context.Canceled) {
					c.log.Trace("handshake timeouts - closing underline connection")
					_ = c.close(false) //nolint:contextcheck
				}

				return
			}
		}
	}()

	select {
	case err := <-firstErr:
		cancelRead()
		cancel()
		handshakeLoopsFinished.Wait()

		return c.translateHandshakeCtxError(err)
	case <-ctx.Done():
		cancelRead()
		cancel()
		handshakeLoopsFinished.Wait()

		return c.translateHandshakeCtxError(ctx.Err())
	case <-done:
		return nil
	}
}

func (c *Conn) translateHandshakeCtxError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) && c.isHandshakeCompletedSuccessfully() {
		return nil
	}

	return &HandshakeError{Err: err}
}

func (c *Conn) close(byUser bool) error {
	c.closeLock.Lock()
	cancelHandshaker := c.cancelHandshaker
	cancelHandshakeReader := c.cancelHandshakeReader
	closedByUser := c.connectionClosedByUser
	if byUser {
		c.connectionClosedByUser = true
	}
	isClosed := c.isConnectionClosed()
	if !isClosed {
		c.closed.Close()
	}
	c.closeLock.Unlock()
	// deskport: a Write blocked in nextConn returns now, and so does an inline Read.
	c.writeGuard.interruptAll()
	c.readGuard.interruptAll()

	cancelHandshaker()
	cancelHandshakeReader()

	if closedByUser || isClosed {
		return nil
	}

	if c.isHandshakeCompletedSuccessfully() && byUser {
		// Discard error from notify() to return non-error on user Close()
		// even if the underlying connection is already closed.
		_ = c.notify(context.Background(), alert.Warning, alert.CloseNotify)
	}

	return c.nextConn.Close()
}

func (c *Conn) isConnectionClosed() bool {
	select {
	case <-c.closed.Done():
		return true
	default:
		return false
	}
}

func (c *Conn) setLocalEpoch(epoch uint16) {
	c.state.localEpoch.Store(epoch)
}

func (c *Conn) setRemoteEpoch(epoch uint16) {
	c.state.remoteEpoch.Store(epoch)
}

// LocalAddr implements net.Conn.LocalAddr.
func (c *Conn) LocalAddr() net.Addr {
	return c.nextConn.LocalAddr()
}

// RemoteAddr implements net.Conn.RemoteAddr.
func (c *Conn) RemoteAddr() net.Addr {
	c.lock.RLock()
	defer c.lock.RUnlock()

	return c.rAddr
}

func (c *Conn) sessionKey() []byte {
	if c.state.isClient {
		// As ServerName can be like 0.example.com, it's better to add
		// delimiter character which is not allowed to be in
		// neither address or domain name.
		return []byte(c.rAddr.String() + "_" + c.fsm.cfg.serverName)
	}

	return c.state.SessionID
}

// SetDeadline implements net.Conn.SetDeadline.
func (c *Conn) SetDeadline(t time.Time) error {
	c.readDeadline.Set(t)

	return c.SetWriteDeadline(t)
}

// SetReadDeadline implements net.Conn.SetReadDeadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.readDeadline.Set(t)
	// Read deadline is fully managed by this layer.
	// Don't set read deadline to underlying connection.
	return nil
}

// SetWriteDeadline implements net.Conn.SetWriteDeadline.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.writeDeadline.Set(t)
	// Write deadline is also fully managed by this layer.
	return nil
}
