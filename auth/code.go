package auth

import (
	"crypto/rand"
	"io"
	"strings"
	"sync"
	"time"
)

// CodeAlphabet is the set of characters a one-time code is drawn from: A-Z and 2-9 without I, O,
// 0 and 1, which people confuse when reading a code aloud or off a screen. It has 32 characters,
// so each one carries exactly 5 bits and a random byte maps to a character without bias.
const CodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// CodeLen is the number of characters in a one-time code.
//
// 8 characters of a 32-letter alphabet are 40 bits. That is plenty because the handshake gives an
// attacker exactly one online guess per code (the code is consumed by the first attempt, and
// CPace leaks nothing that could be tested offline): a guess succeeds with probability 2^-40,
// about one in a trillion, and each new try needs the host owner to show a new code.
const CodeLen = 8

// DefaultCodeTTL is how long a one-time code stays valid when NewCodeStore is given no TTL.
const DefaultCodeTTL = 10 * time.Minute

// CodeStore holds the host's one current one-time code. Generate replaces it; the handshake
// consumes it on the first attempt that gets past the viewer's first message, whatever the
// outcome, so each code admits one guess. It is safe for concurrent use.
type CodeStore struct {
	// Now is the clock used by Generate to compute the expiry; nil means time.Now. Set it before
	// the store is shared. The handshake checks expiry with HostConfig.Now.
	Now func() time.Time

	ttl  time.Duration
	rand io.Reader

	mu      sync.Mutex
	code    string // normalised; "" means no current code
	expires time.Time
}

// NewCodeStore returns a store without a current code. ttl <= 0 means DefaultCodeTTL; rand nil
// means crypto/rand.
func NewCodeStore(ttl time.Duration, rand io.Reader) *CodeStore {
	if ttl <= 0 {
		ttl = DefaultCodeTTL
	}
	return &CodeStore{ttl: ttl, rand: rand}
}

// Generate makes a new current code, replacing (and so revoking) the previous one, and returns
// it formatted for display as "ABCD-EFGH" with its expiry time. If the random source fails, no
// code is current afterwards and Generate returns "" and the zero time: the store fails closed.
func (s *CodeStore) Generate() (code string, expires time.Time) {
	var b [CodeLen]byte
	var err error
	if s.rand == nil {
		_, err = rand.Read(b[:])
	} else {
		_, err = io.ReadFull(s.rand, b[:])
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.code, s.expires = "", time.Time{}
		return "", time.Time{}
	}
	var c [CodeLen]byte
	for i, x := range b {
		c[i] = CodeAlphabet[x%byte(len(CodeAlphabet))]
	}
	s.code = string(c[:])
	s.expires = now().Add(s.ttl)
	return FormatCode(s.code), s.expires
}

// Revoke forgets the current code, if any.
func (s *CodeStore) Revoke() {
	s.mu.Lock()
	s.code, s.expires = "", time.Time{}
	s.mu.Unlock()
}

// Current reports the current code (formatted for display) and its expiry, without consuming it.
func (s *CodeStore) Current() (code string, expires time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.code == "" {
		return "", time.Time{}, false
	}
	return FormatCode(s.code), s.expires, true
}

// take consumes the current code. It returns ErrNoCode when there is none and ErrCodeExpired
// when it expired at now; either way no code is current afterwards.
func (s *CodeStore) take(now time.Time) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	code, expires := s.code, s.expires
	s.code, s.expires = "", time.Time{}
	switch {
	case code == "":
		return "", ErrNoCode
	case !now.Before(expires):
		return "", ErrCodeExpired
	}
	return code, nil
}

// NormalizeCode turns a code as a person typed it into the form the handshake uses: upper case,
// without spaces and dashes.
func NormalizeCode(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '\t':
			return -1
		}
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
}

// FormatCode formats a normalised code for display in two groups of four ("ABCD-EFGH").
func FormatCode(code string) string {
	if len(code) != CodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// validCode reports whether a normalised code could have come from Generate, so that the viewer
// can catch a typo before it burns the host's code.
func validCode(code string) bool {
	if len(code) != CodeLen {
		return false
	}
	for i := 0; i < len(code); i++ {
		if !strings.ContainsRune(CodeAlphabet, rune(code[i])) {
			return false
		}
	}
	return true
}
