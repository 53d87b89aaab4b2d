// Package turncred is the TURN REST credential scheme (draft-uberti-behave-turn-rest, coturn's
// use-auth-secret): a TURN username is "expiry:user", where expiry is a Unix time in seconds,
// and its password is base64(HMAC-SHA1(secret, username)). The rendezvous mints a pair per
// session; any TURN server that shares the secret (the built-in relay or an external coturn)
// checks it without talking to the rendezvous.
package turncred

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MinSecretBytes is the shortest shared secret accepted: 128 bits.
const MinSecretBytes = 16

var (
	// ErrExpired means the username's expiry time has passed; the client needs fresh
	// credentials from a new session.
	ErrExpired = errors.New("turncred: credentials expired")
	// ErrMalformed means the username is not "expiry:user".
	ErrMalformed = errors.New("turncred: username is not expiry:user")
)

// Mint returns the username and password for user, valid until now+ttl.
func Mint(secret []byte, user string, now time.Time, ttl time.Duration) (username, password string) {
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + user
	return username, Password(secret, username)
}

// Password is base64(HMAC-SHA1(secret, username)), the password a TURN server derives.
func Password(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Expiry parses the expiry time of a username.
func Expiry(username string) (time.Time, error) {
	ts, _, ok := strings.Cut(username, ":")
	if !ok {
		return time.Time{}, ErrMalformed
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, ErrMalformed
	}
	return time.Unix(sec, 0), nil
}

// Check returns the password for username if it has not expired at now. A TURN server feeds
// the password into its long-term credential key; the HMAC check itself is the TURN
// MESSAGE-INTEGRITY the server computes from that key.
func Check(secret []byte, username string, now time.Time) (string, error) {
	exp, err := Expiry(username)
	if err != nil {
		return "", err
	}
	if !now.Before(exp) {
		return "", fmt.Errorf("%w at %s", ErrExpired, exp.UTC().Format(time.RFC3339))
	}
	return Password(secret, username), nil
}

// LoadSecret reads a shared secret from the contents of a secret file: the first line, with
// surrounding white space removed, as coturn's static-auth-secret takes it.
func LoadSecret(b []byte) ([]byte, error) {
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSpace(line)
	if len(line) < MinSecretBytes {
		return nil, fmt.Errorf("turncred: the secret is %d bytes, want at least %d (generate one with: head -c 32 /dev/urandom | base64)", len(line), MinSecretBytes)
	}
	return []byte(line), nil
}
