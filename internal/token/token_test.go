package token

import (
	"errors"
	"testing"
	"time"
)

type claims struct {
	User string `json:"u"`
}

func TestRoundTripAndTamper(t *testing.T) {
	s := NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	tok, err := s.Sign("bearer", claims{User: "ann"}, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var c claims
	if err := s.Verify("bearer", tok, &c); err != nil || c.User != "ann" {
		t.Fatalf("verify: %v %+v", err, c)
	}
	if err := s.Verify("ticket", tok, &c); !errors.Is(err, ErrMalformed) {
		t.Errorf("wrong kind accepted: %v", err)
	}
	if err := NewSigner([]byte("other key")).Verify("bearer", tok, &c); !errors.Is(err, ErrSignature) {
		t.Errorf("foreign key accepted: %v", err)
	}
	b := []byte(tok)
	b[3] ^= 1
	if err := s.Verify("bearer", string(b), &c); err == nil {
		t.Error("altered token accepted")
	}
	old, _ := s.Sign("bearer", claims{User: "ann"}, time.Now().Add(-time.Second))
	if err := s.Verify("bearer", old, &c); !errors.Is(err, ErrExpired) {
		t.Errorf("expired token: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	s := NewSigner([]byte("k"))
	tok, _ := s.Sign("ticket", claims{User: "x"}, time.Now().Add(time.Hour))
	f.Add(tok)
	f.Add("a.b")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		var c claims
		_ = s.Verify("ticket", in, &c)
	})
}
