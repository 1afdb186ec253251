// Package token signs and verifies the small capabilities Skein hands out:
// bearer tokens that name a user and a session, and tickets that name a
// query. A token is its JSON claims and an HMAC-SHA256 over them, both
// base64url; anyone holding the key can verify it without a round trip.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors returned by Verify.
var (
	ErrMalformed = errors.New("token: malformed")
	ErrSignature = errors.New("token: bad signature")
	ErrExpired   = errors.New("token: expired")
)

// Signer signs and verifies tokens with one key.
type Signer struct {
	key []byte
	now func() time.Time
}

// NewSigner returns a signer for key, which should hold 32 random bytes.
func NewSigner(key []byte) *Signer {
	return &Signer{key: append([]byte(nil), key...), now: time.Now}
}

// Sign encodes claims, which must carry an expiry, into a token.
func (s *Signer) Sign(kind string, claims any, expires time.Time) (string, error) {
	body, err := json.Marshal(envelope{Kind: kind, Exp: expires.Unix(), Claims: claims})
	if err != nil {
		return "", fmt.Errorf("token: encode: %w", err)
	}
	p := base64.RawURLEncoding.EncodeToString(body)
	return p + "." + base64.RawURLEncoding.EncodeToString(s.mac(p)), nil
}

// Verify checks tok's signature, kind and expiry and decodes its claims.
func (s *Signer) Verify(kind, tok string, claims any) error {
	p, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return ErrMalformed
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return ErrMalformed
	}
	if !hmac.Equal(got, s.mac(p)) {
		return ErrSignature
	}
	body, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return ErrMalformed
	}
	env := envelope{Claims: claims}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if env.Kind != kind {
		return fmt.Errorf("%w: a %q token where a %q token was expected", ErrMalformed, env.Kind, kind)
	}
	if s.now().Unix() >= env.Exp {
		return ErrExpired
	}
	return nil
}

type envelope struct {
	Kind   string `json:"k"`
	Exp    int64  `json:"e"`
	Claims any    `json:"c"`
}

func (s *Signer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}
