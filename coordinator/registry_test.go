package coordinator

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/skeindb/skein/internal/cluster"
)

// A thousand executors are asked for a heartbeat every 5 s (200 a second
// in all) and die after three missed; ten are asked every second and die
// after the timeout. What planning reads of the membership is kept until
// it changes, and follows every change: a registration, a drain, a
// departure, a death.
func TestRegistryScales(t *testing.T) {
	secret := cluster.NewSecret()
	r := newRegistry(secret, 5*time.Second, "UTC", zerolog.Nop())
	now := time.Now()
	r.now = func() time.Time { return now }
	register := func(typ, id string) {
		t.Helper()
		b, _ := secret.SignMember(cluster.Member{ID: id, Location: "grpc://" + id + ":1", Threads: 2, Zone: "UTC"})
		if err := r.action(typ, b); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		register(cluster.ActionRegister, fmt.Sprintf("e%04d", i))
	}
	if got := r.ack().Every; got != time.Second {
		t.Fatalf("10 executors: heartbeat every %v, want 1s", got)
	}
	for i := 10; i < 1000; i++ {
		register(cluster.ActionRegister, fmt.Sprintf("e%04d", i))
	}
	if got := r.ack().Every; got != 5*time.Second {
		t.Fatalf("1000 executors: heartbeat every %v, want 5s", got)
	}
	ready := r.ready()
	if len(ready) != 1000 || ready[0].ID != "e0000" || ready[999].ID != "e0999" {
		t.Fatalf("%d ready", len(ready))
	}
	if &r.ready()[0] != &ready[0] {
		t.Fatal("ready rebuilt without a change")
	}
	register(cluster.ActionDrain, "e0000")
	if ready := r.ready(); len(ready) != 999 || ready[0].ID != "e0001" || !r.locations()["grpc://e0000:1"] {
		t.Fatalf("after a drain: %d ready, first %s", len(ready), ready[0].ID)
	}
	register(cluster.ActionDeregister, "e0000")
	if r.locations()["grpc://e0000:1"] {
		t.Fatal("a departed executor's location is kept")
	}
	// Silent for three intervals: still alive; then dead, all but one
	// that kept sending heartbeats.
	now = now.Add(15 * time.Second)
	register(cluster.ActionHeartbeat, "e0001")
	if n := len(r.ready()); n != 999 {
		t.Fatalf("after 15 s: %d ready", n)
	}
	now = now.Add(2 * time.Second)
	if ready := r.ready(); len(ready) != 1 || ready[0].ID != "e0001" {
		t.Fatalf("after 17 s: %d ready", len(ready))
	}
	if a := r.assign(3); a[0][0] != "e0001" {
		t.Fatalf("assigned %v", a)
	}
}

// In a small cluster an executor is dead once silent for
// --heartbeat-timeout, whatever the timeout: with 2 s (heartbeats asked
// every 2/3 s) not a third later.
func TestSilentForTheTimeoutIsDead(t *testing.T) {
	secret := cluster.NewSecret()
	for _, timeout := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second} {
		r := newRegistry(secret, timeout, "UTC", zerolog.Nop())
		now := time.Now()
		r.now = func() time.Time { return now }
		for _, id := range []string{"a", "b"} {
			b, _ := secret.SignMember(cluster.Member{ID: id, Location: "grpc://" + id + ":1", Threads: 2, Zone: "UTC"})
			if err := r.action(cluster.ActionRegister, b); err != nil {
				t.Fatal(err)
			}
		}
		now = now.Add(timeout)
		if n := len(r.ready()); n != 2 {
			t.Fatalf("timeout %v: %d ready after the timeout exactly, want 2", timeout, n)
		}
		now = now.Add(time.Millisecond)
		if n := len(r.ready()); n != 0 {
			t.Fatalf("timeout %v: %d ready after the timeout and 1 ms, want 0", timeout, n)
		}
	}
}

// The heartbeat's answer lists where dead executors served, so that the
// others stop waiting on them (cluster.Ack.Gone), but not a location a
// live executor serves now (one restarted at the same address).
func TestAckListsTheDead(t *testing.T) {
	secret := cluster.NewSecret()
	r := newRegistry(secret, 2*time.Second, "UTC", zerolog.Nop())
	now := time.Now()
	r.now = func() time.Time { return now }
	act := func(typ, id, loc string) {
		t.Helper()
		b, _ := secret.SignMember(cluster.Member{ID: id, Location: loc, Threads: 1, Zone: "UTC"})
		if err := r.action(typ, b); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a", "b", "c"} {
		act(cluster.ActionRegister, id, "grpc://"+id+":1")
	}
	if gone := r.ack().Gone; len(gone) != 0 {
		t.Fatalf("gone %v, want none", gone)
	}
	now = now.Add(time.Second)
	act(cluster.ActionHeartbeat, "a", "grpc://a:1")
	act(cluster.ActionHeartbeat, "c", "grpc://c:1")
	now = now.Add(1500 * time.Millisecond) // b silent 2.5 s
	if gone := r.ack().Gone; !slices.Equal(gone, []string{"grpc://b:1"}) {
		t.Fatalf("gone %v, want b's location", gone)
	}
	act(cluster.ActionRegister, "b2", "grpc://b:1") // b's address, a new process
	if gone := r.ack().Gone; len(gone) != 0 {
		t.Fatalf("gone %v, want none: b's location is served again", gone)
	}
}

// A task's alternate serves at another address than its executor: an
// executor restarted at its old address is a second member until the
// first is counted dead, and an alternate there is none.
func TestAlternateServesElsewhere(t *testing.T) {
	secret := cluster.NewSecret()
	r := newRegistry(secret, 5*time.Second, "UTC", zerolog.Nop())
	for _, m := range [][2]string{{"a", "grpc://h1:1"}, {"a2", "grpc://h1:1"}, {"b", "grpc://h2:1"}} {
		body, _ := secret.SignMember(cluster.Member{ID: m[0], Location: m[1], Threads: 1, Zone: "UTC"})
		if err := r.action(cluster.ActionRegister, body); err != nil {
			t.Fatal(err)
		}
	}
	loc := map[string]string{"a": "grpc://h1:1", "a2": "grpc://h1:1", "b": "grpc://h2:1"}
	for _, pair := range r.assign(30) {
		if loc[pair[0]] == loc[pair[1]] {
			t.Fatalf("task at %s, its alternate %s: one address", pair[0], pair[1])
		}
	}
}

// A pause of the coordinator's own (stopped, suspended) is not its
// executors' silence: while the scheduler's ticks are overdue they are
// judged as of the last tick, and the next tick gives them a timeout's time
// to be heard from again. Ticking as usual, a silent executor dies after
// the timeout.
func TestOwnPauseIsNotTheExecutorsSilence(t *testing.T) {
	secret := cluster.NewSecret()
	r := newRegistry(secret, 5*time.Second, "UTC", zerolog.Nop())
	now := time.Now()
	r.now = func() time.Time { return now }
	for _, id := range []string{"a", "b"} {
		b, _ := secret.SignMember(cluster.Member{ID: id, Location: "grpc://" + id + ":1", Threads: 1, Zone: "UTC"})
		if err := r.action(cluster.ActionRegister, b); err != nil {
			t.Fatal(err)
		}
	}
	tick := func(d time.Duration) {
		for end := now.Add(d); now.Before(end); {
			now = now.Add(schedTick)
			r.ticked()
		}
	}
	tick(time.Second)
	now = now.Add(25 * time.Second) // stopped
	if n := len(r.ready()); n != 2 {
		t.Fatalf("after the pause, before a tick: %d ready, want 2", n)
	}
	tick(4 * time.Second)
	if n := len(r.ready()); n != 2 {
		t.Fatalf("4 s of ticks after the pause: %d ready, want 2", n)
	}
	tick(2 * time.Second)
	if n := len(r.ready()); n != 0 {
		t.Fatalf("silent for the timeout after the pause: %d ready, want 0", n)
	}
}

// A dead executor runs nothing the cluster counts on: the status page and
// the metrics list it with no tasks, not with its last heartbeat's.
func TestDeadRunsNothing(t *testing.T) {
	secret := cluster.NewSecret()
	r := newRegistry(secret, time.Second, "UTC", zerolog.Nop())
	now := time.Now()
	r.now = func() time.Time { return now }
	for _, typ := range []string{cluster.ActionRegister, cluster.ActionHeartbeat} {
		b, _ := secret.SignMember(cluster.Member{ID: "a", Location: "grpc://a:1", Threads: 2, Zone: "UTC", Running: 2, Waiting: 1})
		if err := r.action(typ, b); err != nil {
			t.Fatal(err)
		}
	}
	if s := r.snapshot(); len(s) != 1 || !s[0].alive || s[0].Running != 2 || s[0].Waiting != 1 {
		t.Fatalf("live: %+v", s)
	}
	now = now.Add(2 * time.Second)
	if s := r.snapshot(); len(s) != 1 || s[0].alive || s[0].Running != 0 || s[0].Waiting != 0 {
		t.Fatalf("dead: %+v, want listed with no tasks", s)
	}
}
