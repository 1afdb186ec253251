package users

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestUsersFile(t *testing.T) {
	h, err := Hash("pw1")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(strings.NewReader("# users\n\nann:admin:" + h + "\n  bob:reader:" + h + "  \n"))
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := s.Check("ann", "pw1"); !ok || r != Admin {
		t.Errorf("ann: %v %v", r, ok)
	}
	if r, ok := s.Check("bob", "pw1"); !ok || r != Reader || !r.ReadOnly() {
		t.Errorf("bob: %v %v", r, ok)
	}
	for _, c := range [][2]string{{"ann", "pw2"}, {"cy", "pw1"}, {"", ""}} {
		if _, ok := s.Check(c[0], c[1]); ok {
			t.Errorf("%q/%q logged in", c[0], c[1])
		}
	}
	// An unknown name is checked against a hash of the users' own cost:
	// of bcrypt's least, it answered in 2-8 ms where a real name took
	// 70-86 ms, and names could be told by timing (a tester's).
	if c, err := bcrypt.Cost(s.dummy); err != nil || c != bcrypt.DefaultCost {
		t.Errorf("an unknown user is checked at cost %d (%v), the users' is %d", c, err, bcrypt.DefaultCost)
	}
	for _, bad := range []string{
		"", "# only a comment\n", "ann:admin\n", "ann:root:" + h, "ann:admin:plain-password",
		"ann:admin:" + h + "\nann:reader:" + h, "a b:admin:" + h, strings.Repeat("n", MaxName+1) + ":admin:" + h,
	} {
		if _, err := Parse(strings.NewReader(bad)); !errors.Is(err, ErrFile) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	single := Single("ann", "s3cret")
	if r, ok := single.Check("ann", "s3cret"); !ok || r != Admin {
		t.Errorf("single: %v %v", r, ok)
	}
	if _, ok := single.Check("ann", "s3cre"); ok {
		t.Error("single: wrong password accepted")
	}
}

func TestThrottleBacksOff(t *testing.T) {
	th := NewThrottle(time.Second, 8*time.Second)
	now := time.Unix(1000, 0)
	th.now = func() time.Time { return now }
	addr := Key{Name: "addr:a", Free: 2}
	fail := func() {
		t.Helper()
		end, wait := th.Begin(addr)
		if wait != 0 {
			t.Fatalf("refused at %v: wait %v", now, wait)
		}
		end(Failed)
	}
	fail()
	fail()
	// Two failures are free; the second starts a backoff of Base.
	if _, wait := th.Begin(addr); wait != time.Second {
		t.Fatalf("wait %v", wait)
	}
	for _, want := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		now = now.Add(time.Hour / 4 / 60) // 15 s: past any backoff
		fail()
		if _, wait := th.Begin(addr); wait != want {
			t.Fatalf("wait %v, want %v", wait, want)
		}
	}
	// Another key is not slowed, and one attempt at a time past Free.
	other := Key{Name: "addr:b", Free: 2}
	end, wait := th.Begin(other)
	if wait != 0 {
		t.Fatal("another address was slowed")
	}
	end(Succeeded)
	now = now.Add(time.Minute)
	end, wait = th.Begin(addr)
	if wait != 0 {
		t.Fatal("refused after the backoff")
	}
	if _, wait := th.Begin(addr); wait == 0 {
		t.Fatal("a second attempt in flight was allowed past Free")
	}
	end(Succeeded)
	if len(th.byKey) != 0 {
		t.Fatalf("keys left after success: %v", th.byKey)
	}
}

// Attempts at once are checked at most InflightPerFree times Free before
// any has failed: the rest are refused unchecked, as no failure is known
// until a check ends.
func TestThrottleBoundsAttemptsAtOnce(t *testing.T) {
	th := NewThrottle(time.Second, 8*time.Second)
	addr := Key{Name: "addr:a", Free: 5}
	var ends []func(Outcome)
	for range InflightPerFree * 5 {
		end, wait := th.Begin(addr)
		if wait != 0 {
			t.Fatalf("attempt %d refused", len(ends)+1)
		}
		ends = append(ends, end)
	}
	if _, wait := th.Begin(addr); wait == 0 {
		t.Fatal("an attempt past the bound was checked")
	}
	for _, end := range ends {
		end(Failed)
	}
	if _, wait := th.Begin(addr); wait == 0 {
		t.Fatal("not in backoff after the failures")
	}
}

// Guesses at a user's name set off its backoff, but the user's client at
// an address it has logged in from still logs in (and fails are still
// counted there); a client at a new address waits. The address's own
// backoff holds even a trusted pair.
func TestThrottleTrustsKnownClients(t *testing.T) {
	th := NewThrottle(time.Second, 30*time.Second)
	now := time.Unix(1000, 0)
	th.now = func() time.Time { return now }
	keys := func(addr string) []Key {
		return []Key{{Name: "addr:" + addr, Free: 5}, {Name: "user:ann", Free: 3, Trust: "ann\x00" + addr}}
	}
	attempt := func(addr string, o Outcome) time.Duration {
		t.Helper()
		end, wait := th.Begin(keys(addr)...)
		if wait == 0 {
			end(o)
		}
		return wait
	}
	if wait := attempt("home", Succeeded); wait != 0 {
		t.Fatal(wait)
	}
	for i := range 3 { // an attacker, from addresses of its own
		if wait := attempt(fmt.Sprint("attacker", i), Failed); wait != 0 {
			t.Fatalf("guess %d refused: %v", i, wait)
		}
	}
	if wait := attempt("attacker9", Failed); wait == 0 {
		t.Fatal("the user's backoff did not hold a new address")
	}
	if wait := attempt("new", Succeeded); wait == 0 {
		t.Fatal("a client at a new address was not held by the user's backoff")
	}
	if wait := attempt("home", Succeeded); wait != 0 {
		t.Fatalf("the user's client at its known address was locked out: wait %v", wait)
	}
	for range 5 { // its own address's backoff holds it
		attempt("home", Failed)
	}
	if wait := attempt("home", Succeeded); wait == 0 {
		t.Fatal("a trusted pair passed its address's backoff")
	}
	now = now.Add(8 * 24 * time.Hour)
	for i := range 4 {
		attempt(fmt.Sprint("attacker", i), Failed)
	}
	if wait := attempt("home", Succeeded); wait == 0 {
		t.Fatal("a trust past TrustFor still held")
	}
}

// Long keys are kept as their SHA-256, and count as themselves: a client
// sent 8 MB user names, each kept whole (a tester's: 543 MB of heap from
// 30 logins).
func TestThrottleKeepsLongKeysShort(t *testing.T) {
	th := NewThrottle(time.Second, time.Minute)
	long := Key{Name: "user:" + strings.Repeat("u", 1<<20), Free: 2, Trust: strings.Repeat("t", 1<<20)}
	for range 2 {
		end, wait := th.Begin(long)
		if wait > 0 {
			t.Fatal("backed off before its free failure")
		}
		end(Failed)
	}
	if _, wait := th.Begin(long); wait <= 0 {
		t.Error("a long key's failures did not count")
	}
	for k := range th.byKey {
		if len(k) > maxKey {
			t.Errorf("a key of %d bytes kept", len(k))
		}
	}
}

func TestThrottleStaysBounded(t *testing.T) {
	th := NewThrottle(time.Second, time.Minute)
	th.Keys = 100
	for i := range 1000 {
		end, _ := th.Begin(Key{Name: string(rune(i)), Free: 5})
		end(Failed)
	}
	if len(th.byKey) > 100 {
		t.Fatalf("%d keys", len(th.byKey))
	}
}
