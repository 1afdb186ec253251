package flightsql

import (
	"errors"
	"testing"
	"time"

	"github.com/skeindb/skein/internal/token"
)

// The bearer cache answers for a token it verified until the token
// expires, and never for one that differs from it in any byte.
func TestBearerCacheHoldsVerifiedTokensUntilTheyExpire(t *testing.T) {
	signer := token.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	var bc bearerCache
	exp := time.Now().Truncate(time.Second).Add(2 * time.Second)
	tok, err := signer.Sign(bearerKind, bearerClaims{User: "ann", Session: "s1"}, exp)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // verified, then from the cache
		c, err := bc.verify(signer, tok)
		if err != nil || c.user != "ann" || c.session != "s1" || !c.expires.Equal(exp) {
			t.Fatalf("%+v, %v", c, err)
		}
	}
	forged := []byte(tok)
	forged[len(forged)-2] ^= 1
	if _, err := bc.verify(signer, string(forged)); err == nil {
		t.Fatal("a token one byte off the cached one verified")
	}
	if _, err := bc.verify(token.NewSigner([]byte("another key")), tok+"x"); err == nil {
		t.Fatal("a token with a longer signature verified")
	}
	time.Sleep(time.Until(exp))
	if _, err := bc.verify(signer, tok); !errors.Is(err, token.ErrExpired) {
		t.Fatalf("expired token: %v", err)
	}
}
