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
	"hash"
	"strings"
	"sync"
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
	// macs holds HMAC states keyed with key, reset between uses: every
	// RPC verifies a bearer token and every query signs and verifies a
	// ticket, and a fresh HMAC costs two SHA-256 states and the key's pads.
	macs sync.Pool
}

// NewSigner returns a signer for key, which should hold 32 random bytes.
func NewSigner(key []byte) *Signer {
	s := &Signer{key: append([]byte(nil), key...), now: time.Now}
	s.macs.New = func() any { return hmac.New(sha256.New, s.key) }
	return s
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
	_, err := s.VerifyUntil(kind, tok, claims)
	return err
}

// VerifyUntil is Verify that also returns when tok expires, for a caller
// that keeps what it verified until then.
func (s *Signer) VerifyUntil(kind, tok string, claims any) (time.Time, error) {
	p, err := s.signed(tok)
	if err != nil {
		return time.Time{}, err
	}
	body, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return time.Time{}, ErrMalformed
	}
	env := envelope{Claims: claims}
	if err := json.Unmarshal(body, &env); err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if env.Kind != kind {
		return time.Time{}, fmt.Errorf("%w: a %q token where a %q token was expected", ErrMalformed, env.Kind, kind)
	}
	if s.now().Unix() >= env.Exp {
		return time.Time{}, ErrExpired
	}
	return time.Unix(env.Exp, 0), nil
}

// Signed says whether tok carries this signer's signature, whatever its
// kind or expiry: one HMAC, for a caller that tries several kinds of one
// signer on tokens that may be another signer's.
func (s *Signer) Signed(tok string) bool {
	_, err := s.signed(tok)
	return err == nil
}

// signed checks tok's signature and returns its payload.
func (s *Signer) signed(tok string) (string, error) {
	p, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return "", ErrMalformed
	}
	var got [sha256.Size]byte
	if base64.RawURLEncoding.DecodedLen(len(sig)) != sha256.Size {
		if _, err := base64.RawURLEncoding.DecodeString(sig); err != nil {
			return "", ErrMalformed
		}
		return "", ErrSignature
	}
	if _, err := base64.RawURLEncoding.Decode(got[:], []byte(sig)); err != nil {
		return "", ErrMalformed
	}
	var want [sha256.Size]byte
	if !hmac.Equal(got[:], s.sum(want[:0], p)) {
		return "", ErrSignature
	}
	return p, nil
}

type envelope struct {
	Kind   string `json:"k"`
	Exp    int64  `json:"e"`
	Claims any    `json:"c"`
}

func (s *Signer) mac(payload string) []byte { return s.sum(nil, payload) }

// sum appends payload's HMAC to b.
func (s *Signer) sum(b []byte, payload string) []byte {
	m := s.macs.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(payload))
	b = m.Sum(b)
	s.macs.Put(m)
	return b
}
