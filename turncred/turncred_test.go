package turncred

import (
	"errors"
	"testing"
	"time"
)

// TestPasswordVector checks the HMAC against a value computed independently:
// printf '%s' '1700000000:alice' | openssl dgst -sha1 -hmac 'secret-secret-secret' -binary | base64
func TestPasswordVector(t *testing.T) {
	got := Password([]byte("secret-secret-secret"), "1700000000:alice")
	const want = "06GZZqlyIpLLCkHLLUffVFHIoio="
	if got != want {
		t.Fatalf("Password = %q, want %q", got, want)
	}
}

func TestMintCheck(t *testing.T) {
	secret := []byte("0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	user, pass := Mint(secret, "sess", now, 10*time.Minute)
	if user != "1800000600:sess" {
		t.Fatalf("username %q", user)
	}
	got, err := Check(secret, user, now.Add(9*time.Minute))
	if err != nil || got != pass {
		t.Fatalf("Check before expiry = %q, %v; want %q", got, err, pass)
	}
	if _, err := Check(secret, user, now.Add(10*time.Minute)); !errors.Is(err, ErrExpired) {
		t.Fatalf("Check at expiry: %v, want ErrExpired", err)
	}
	for _, bad := range []string{"", "sess", "x:sess", "-5:sess", ":sess"} {
		if _, err := Check(secret, bad, now); !errors.Is(err, ErrMalformed) {
			t.Errorf("Check(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestLoadSecret(t *testing.T) {
	if _, err := LoadSecret([]byte("short\n")); err == nil {
		t.Fatal("a 5-byte secret was accepted")
	}
	s, err := LoadSecret([]byte("  0123456789abcdefXYZ  \nignored\n"))
	if err != nil || string(s) != "0123456789abcdefXYZ" {
		t.Fatalf("LoadSecret = %q, %v", s, err)
	}
}

// FuzzCheck feeds Check usernames as a TURN client sends them: it must never panic, and any
// username it accepts must parse to an expiry in the future with the password it derives.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"1800000600:sess", "", ":", "9999999999999999999999:x", "1:", "-1:a", "１２:x"} {
		f.Add(s)
	}
	secret := []byte("0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, username string) {
		pw, err := Check(secret, username, now)
		if err != nil {
			return
		}
		exp, err := Expiry(username)
		if err != nil || !exp.After(now) || pw != Password(secret, username) {
			t.Fatalf("accepted %q: expiry %v, %v", username, exp, err)
		}
	})
}
