package users

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sync"
	"time"
)

// Throttle slows down password guessing. Each key (a client address, a
// user name) may fail Free times freely; after that every further attempt
// waits for a backoff that doubles with each failure, from Base up to Max,
// and attempts made during it are refused unchecked, so they cost no
// bcrypt and reveal nothing. Beyond Free failures a key also has at most
// one attempt in flight, so parallel connections do not multiply the rate;
// before them, at most InflightPerFree times Free: failures count as an
// attempt ends, and 300 attempts sent at once from one address were all
// checked, 26 s of bcrypt that held every other login back (a tester's).
// A success resets the key.
//
// A key may name a trust (Key.Trust): a success makes the throttle trust
// it for TrustFor, and a trusted attempt is not held by that key's
// backoff. So the user name's backoff, which anyone may set off by
// guessing at it, does not lock out the user's own clients: the user and
// address pair they logged in from is trusted.
type Throttle struct {
	Base, Max time.Duration
	// Forget forgives a key's failures this long after the last one.
	Forget time.Duration
	// Keys bounds the keys remembered (each is a few dozen bytes), and
	// the trusts.
	Keys int
	// TrustFor is how long a success trusts its keys' Trust.
	TrustFor time.Duration

	mu      sync.Mutex
	byKey   map[string]*strikes
	trusted map[string]time.Time // a trust and when it was last earned
	now     func() time.Time
}

// Key is one thing attempts are counted by, with the failures it may
// have before backoff, and the trust (if any) that exempts an attempt
// from that backoff once a success has earned it.
type Key struct {
	Name  string
	Free  int
	Trust string
}

// InflightPerFree times a key's Free is how many of its attempts may be
// checked at once before it has failed Free times (a client's pool
// logging in at once takes several).
const InflightPerFree = 4

type strikes struct {
	failures int
	inflight int
	last     time.Time // of the last failure
	until    time.Time // no attempt before this
}

// NewThrottle returns a throttle with the given backoff bounds.
func NewThrottle(base, max time.Duration) *Throttle {
	return &Throttle{Base: base, Max: max, Forget: 15 * time.Minute, Keys: 100_000, TrustFor: 7 * 24 * time.Hour,
		byKey: map[string]*strikes{}, trusted: map[string]time.Time{}, now: time.Now}
}

// maxKey is the longest key kept as it is (shortKey).
const maxKey = 512

// shortKey is k, or its SHA-256 when longer than maxKey.
func shortKey(k string) string {
	if len(k) <= maxKey {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Outcome is how an attempt ended.
type Outcome int

// Outcomes of an attempt.
const (
	Failed    Outcome = iota // wrong credentials: counts
	Succeeded                // right credentials: resets
	Aborted                  // not checked after all: neither
)

// Begin starts an attempt counted against keys. If any key is in backoff
// it returns how long to wait and no end; else the caller checks the
// password and calls end with the outcome.
//
// A key's Name and Trust longer than maxKey are kept as their SHA-256:
// a client sent 8 MB user names, each kept whole.
func (t *Throttle) Begin(keys ...Key) (end func(Outcome), retry time.Duration) {
	keys = slices.Clone(keys)
	for i := range keys {
		keys[i].Name, keys[i].Trust = shortKey(keys[i].Name), shortKey(keys[i].Trust)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range keys {
		s := t.byKey[k.Name]
		if s != nil && s.inflight == 0 && now.Sub(s.last) > t.Forget {
			delete(t.byKey, k.Name) // failures long ago are forgiven
			continue
		}
		if s == nil || t.trusts(k.Trust, now) {
			continue
		}
		if s.inflight >= InflightPerFree*max(k.Free, 1) {
			return nil, t.Base
		}
		if s.failures < k.Free {
			continue
		}
		if wait := s.until.Sub(now); wait > 0 {
			return nil, wait
		}
		if s.inflight > 0 {
			return nil, t.Base
		}
	}
	got := make([]*strikes, len(keys))
	for i, k := range keys {
		s := t.byKey[k.Name]
		if s == nil {
			t.makeRoom(now)
			s = &strikes{}
			t.byKey[k.Name] = s
		}
		s.inflight++
		got[i] = s
	}
	return func(o Outcome) { t.end(keys, got, o) }, 0
}

func (t *Throttle) end(keys []Key, got []*strikes, o Outcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for i, k := range keys {
		s := got[i]
		s.inflight--
		switch o {
		case Succeeded:
			s.failures, s.until = 0, time.Time{}
			if k.Trust != "" {
				t.trust(k.Trust, now)
			}
		case Failed:
			s.failures++
			s.last = now
			if over := s.failures - k.Free; over >= 0 {
				wait := t.Max
				if over < 30 && t.Base<<over < t.Max {
					wait = t.Base << over
				}
				s.until = now.Add(wait)
			}
		}
		if s.failures == 0 && s.inflight == 0 && t.byKey[k.Name] == s {
			delete(t.byKey, k.Name)
		}
	}
}

// trusts says whether a success earned trust within TrustFor. t.mu is
// held.
func (t *Throttle) trusts(trust string, now time.Time) bool {
	at, ok := t.trusted[trust]
	return trust != "" && ok && now.Sub(at) <= t.TrustFor
}

// trust records a success of trust, forgetting the stalest trusts when
// there are Keys of them already. t.mu is held.
func (t *Throttle) trust(trust string, now time.Time) {
	if _, ok := t.trusted[trust]; !ok && len(t.trusted) >= t.Keys {
		for k, at := range t.trusted {
			if now.Sub(at) > t.TrustFor || len(t.trusted) >= t.Keys*9/10 {
				delete(t.trusted, k)
			}
		}
	}
	t.trusted[trust] = now
}

// makeRoom forgets keys long out of backoff when the table is full, and
// some others if that is not enough: the table stays bounded whatever the
// number of addresses and names tried.
func (t *Throttle) makeRoom(now time.Time) {
	if len(t.byKey) < t.Keys {
		return
	}
	for k, s := range t.byKey {
		if s.inflight == 0 && now.Sub(s.last) > t.Forget {
			delete(t.byKey, k)
		}
	}
	for k, s := range t.byKey {
		if len(t.byKey) < t.Keys*9/10 {
			break
		}
		if s.inflight == 0 {
			delete(t.byKey, k)
		}
	}
}
