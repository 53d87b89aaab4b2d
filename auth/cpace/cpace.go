// Package cpace implements the CPace balanced password-authenticated key exchange
// (draft-irtf-cfrg-cpace-21) for the cipher suite CPACE-RISTR255-SHA512, in the
// initiator-responder setting.
//
// CPace turns a low-entropy secret (here: a one-time code a person reads off the host's screen)
// into a strong shared key without letting an eavesdropper or an active attacker test more than
// one guess of the secret per protocol run. The package follows the draft literally, so that its
// outputs match the draft's test vectors byte for byte:
//
//   - prepend_len uses an LEB128 length; lv_cat (prefix_free_cat in older revisions) concatenates
//     length-prefixed strings;
//   - generator_string = lv_cat(DSI, PRS, zero_bytes(len_zpad), CI, sid), with the zero padding
//     chosen so that DSI and PRS fill the first SHA-512 input block;
//   - the generator is the ristretto255 one-way map of SHA-512(generator_string);
//   - sample_scalar draws 32 random bytes and clears the bits above 252;
//   - scalar_mult_vfy decodes the peer's element and fails for an invalid encoding or when the
//     result is the identity;
//   - ISK = SHA-512(lv_cat(DSI || "_ISK", sid, K) || lv_cat(Ya, ADa) || lv_cat(Yb, ADb)).
//
// The package does no key confirmation: ISK must be confirmed (and should be run through a KDF)
// by the protocol that uses it. Messages here are the bare 32-byte element encodings; the caller
// frames them and carries ADa and ADb itself.
package cpace

import (
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"

	"github.com/gtank/ristretto255"
)

// DSI is the domain-separation identifier of the ristretto255 group environment.
const DSI = "CPaceRistretto255"

// ElementSize is the size of an encoded ristretto255 element (Ya, Yb, K).
const ElementSize = 32

// ISKSize is the size of the intermediate session key (the SHA-512 output).
const ISKSize = 64

// sInBytes is SHA-512's input block size, used for the zero padding of the generator string.
const sInBytes = 128

// ErrInvalidElement is returned when the peer's share does not decode to a ristretto255 element
// or the Diffie-Hellman result is the identity. The draft requires the run to be aborted then.
var ErrInvalidElement = errors.New("cpace: invalid peer element")

// ErrFinished is returned when an Initiator is used a second time; a secret scalar must never be
// reused.
var ErrFinished = errors.New("cpace: initiator already finished")

// prependLen returns the LEB128 encoding of len(data) followed by data.
func prependLen(data []byte) []byte {
	n := len(data)
	out := make([]byte, 0, len(data)+5)
	for {
		if n < 128 {
			out = append(out, byte(n))
		} else {
			out = append(out, byte(n&0x7f)|0x80)
		}
		n >>= 7
		if n == 0 {
			break
		}
	}
	return append(out, data...)
}

// lvCat is the draft's lv_cat (prefix_free_cat): the concatenation of each argument with its
// length prepended.
func lvCat(args ...[]byte) []byte {
	var out []byte
	for _, a := range args {
		out = append(out, prependLen(a)...)
	}
	return out
}

// generatorString is the draft's generator_string(DSI, PRS, CI, sid, s_in_bytes).
func generatorString(dsi, prs, ci, sid []byte, sInBytes int) []byte {
	zpad := sInBytes - 1 - len(prependLen(prs)) - len(prependLen(dsi))
	if zpad < 0 {
		zpad = 0
	}
	return lvCat(dsi, prs, make([]byte, zpad), ci, sid)
}

// CalculateGenerator derives the secret generator from the password-related string PRS, the
// channel identifier CI and the session ID sid. It is exported so that the draft's generator
// test vector can be checked from outside the package.
func CalculateGenerator(prs, ci, sid []byte) *ristretto255.Element {
	h := sha512.Sum512(generatorString([]byte(DSI), prs, ci, sid, sInBytes))
	return ristretto255.NewElement().FromUniformBytes(h[:])
}

// sampleScalar is the draft's recommended G.sample_scalar(): 32 random bytes with the bits above
// group_size_bits (252) cleared, read as a little-endian integer. The result is below 2^252 and
// therefore always a canonical scalar.
func sampleScalar(r io.Reader) (*ristretto255.Scalar, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, fmt.Errorf("cpace: sample scalar: %w", err)
	}
	b[31] &= 0x0f
	s := ristretto255.NewScalar()
	if err := s.Decode(b[:]); err != nil {
		// Unreachable: every value below 2^252 is canonical.
		return nil, fmt.Errorf("cpace: sample scalar: %w", err)
	}
	return s, nil
}

// scalarMult is G.scalar_mult(y, g): the encoding of g^y.
func scalarMult(y *ristretto255.Scalar, g *ristretto255.Element) []byte {
	return ristretto255.NewElement().ScalarMult(y, g).Encode(nil)
}

// scalarMultVfy is G.scalar_mult_vfy(y, X). Where the draft returns G.I, this returns
// ErrInvalidElement, because every caller must abort on G.I anyway.
func scalarMultVfy(y *ristretto255.Scalar, x []byte) ([]byte, error) {
	var e ristretto255.Element
	if err := e.Decode(x); err != nil {
		return nil, ErrInvalidElement
	}
	k := ristretto255.NewElement().ScalarMult(y, &e)
	if k.Equal(ristretto255.NewElement().Zero()) == 1 {
		return nil, ErrInvalidElement
	}
	return k.Encode(nil), nil
}

// transcriptIR is the initiator-responder transcript lv_cat(Ya, ADa) || lv_cat(Yb, ADb).
func transcriptIR(ya, adA, yb, adB []byte) []byte {
	return append(lvCat(ya, adA), lvCat(yb, adB)...)
}

// deriveISK is ISK = H.hash(lv_cat(DSI || "_ISK", sid, K) || transcript).
func deriveISK(sid, k, transcript []byte) []byte {
	h := sha512.New()
	h.Write(lvCat([]byte(DSI+"_ISK"), sid, k))
	h.Write(transcript)
	return h.Sum(nil)
}

// Initiator is party A of one CPace run. It holds the secret scalar between sending Ya and
// receiving Yb; Finish may be called once.
type Initiator struct {
	ya   *ristretto255.Scalar
	sid  []byte
	msgA []byte
	adA  []byte
}

// NewInitiator starts a run as the initiator and returns Ya, the 32-byte encoding of the share to
// send to the responder together with adInit. rand nil means crypto/rand.
func NewInitiator(prs, ci, sid, adInit []byte, rand io.Reader) (*Initiator, []byte, error) {
	y, err := sampleScalar(rand)
	if err != nil {
		return nil, nil, err
	}
	i, msgA := newInitiatorScalar(prs, ci, sid, adInit, y)
	return i, msgA, nil
}

// newInitiatorScalar is NewInitiator with a given scalar, so tests can reproduce the draft's
// vectors.
func newInitiatorScalar(prs, ci, sid, adInit []byte, y *ristretto255.Scalar) (*Initiator, []byte) {
	g := CalculateGenerator(prs, ci, sid)
	msgA := scalarMult(y, g)
	return &Initiator{
		ya:   y,
		sid:  append([]byte(nil), sid...),
		msgA: append([]byte(nil), msgA...),
		adA:  append([]byte(nil), adInit...),
	}, msgA
}

// Finish takes the responder's share Yb and associated data ADb and returns ISK. It fails with
// ErrInvalidElement when Yb is not a valid element or yields the identity.
func (i *Initiator) Finish(msgB, adResp []byte) (isk []byte, err error) {
	if i.ya == nil {
		return nil, ErrFinished
	}
	y := i.ya
	i.ya = nil // never reuse the scalar, whatever the outcome
	k, err := scalarMultVfy(y, msgB)
	if err != nil {
		return nil, err
	}
	return deriveISK(i.sid, k, transcriptIR(i.msgA, i.adA, msgB, adResp)), nil
}

// Respond runs the responder (party B) on the initiator's share msgA (Ya) and associated data
// adInit. It returns Yb, to send back with adResp, and ISK. rand nil means crypto/rand.
func Respond(prs, ci, sid, msgA, adInit, adResp []byte, rand io.Reader) (msgB, isk []byte, err error) {
	y, err := sampleScalar(rand)
	if err != nil {
		return nil, nil, err
	}
	return respondScalar(prs, ci, sid, msgA, adInit, adResp, y)
}

// respondScalar is Respond with a given scalar, for the draft's vectors.
func respondScalar(prs, ci, sid, msgA, adInit, adResp []byte, y *ristretto255.Scalar) (msgB, isk []byte, err error) {
	// Check Ya before spending work on the generator; the order has no bearing on the result.
	var e ristretto255.Element
	if len(msgA) != ElementSize || e.Decode(msgA) != nil {
		return nil, nil, ErrInvalidElement
	}
	g := CalculateGenerator(prs, ci, sid)
	msgB = scalarMult(y, g)
	k, err := scalarMultVfy(y, msgA)
	if err != nil {
		return nil, nil, err
	}
	return msgB, deriveISK(sid, k, transcriptIR(msgA, adInit, msgB, adResp)), nil
}
