package coordinator

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
)

// A draining executor keeps its place (it serves what it has) but gets no
// new task and is not among those that take tasks; it says so in every
// heartbeat, and after a coordinator restart when it registers again. One
// that deregisters is gone at once.
func TestRegistryDrain(t *testing.T) {
	secret := cluster.NewSecret()
	r := newRegistry(secret, time.Minute, "UTC", zerolog.Nop())
	sign := func(id string, draining bool) []byte {
		b, err := secret.SignMember(cluster.Member{ID: id, Location: "grpc://" + id + ":1", Zone: "UTC", Draining: draining})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, id := range []string{"a", "b"} {
		if err := r.action(cluster.ActionRegister, sign(id, false)); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(ms []cluster.Member) string {
		var out []string
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return strings.Join(out, ",")
	}
	if err := r.action(cluster.ActionDrain, sign("a", false)); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		if got := ids(r.ready()); got != "b" {
			t.Fatalf("round %d: ready %q, want b", round, got)
		}
		if got := ids(r.live()); got != "a,b" {
			t.Fatalf("round %d: live %q, want a,b", round, got)
		}
		if _, ok := r.location("a"); !ok {
			t.Fatalf("round %d: the draining executor's location is gone", round)
		}
		for _, ex := range r.assign(6) {
			if ex[0] != "b" || ex[1] != "b" {
				t.Fatalf("round %d: assignment %v uses the draining executor", round, ex)
			}
		}
		// Its heartbeats say it drains.
		if err := r.action(cluster.ActionHeartbeat, sign("a", true)); err != nil {
			t.Fatal(err)
		}
	}
	// After a restart of the coordinator, it registers again, draining.
	r2 := newRegistry(secret, time.Minute, "UTC", zerolog.Nop())
	if err := r2.action(cluster.ActionRegister, sign("a", true)); err != nil {
		t.Fatal(err)
	}
	if len(r2.ready()) != 0 || r2.assign(1) != nil {
		t.Fatal("a draining executor that registered again takes tasks")
	}
	// A drain the coordinator had not heard of registers it, draining.
	if err := r2.action(cluster.ActionDrain, sign("c", false)); err != nil || ids(r2.live()) != "a,c" || len(r2.ready()) != 0 {
		t.Fatalf("drain of an unknown executor: %v, live %q", err, ids(r2.live()))
	}
	if err := r.action(cluster.ActionDeregister, sign("a", true)); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.location("a"); ok || ids(r.live()) != "b" {
		t.Fatalf("deregistered executor still known: live %q", ids(r.live()))
	}
	bad, _ := cluster.NewSecret().SignMember(cluster.Member{ID: "b", Zone: "UTC"})
	if err := r.action(cluster.ActionDeregister, bad); err == nil || ids(r.live()) != "b" {
		t.Fatalf("deregistration signed with another secret: %v", err)
	}
}

// The metrics count a draining executor apart from the live ones.
func TestDrainingInMetrics(t *testing.T) {
	secret := cluster.NewSecret()
	r := newRegistry(secret, time.Minute, "UTC", zerolog.Nop())
	for _, id := range []string{"a", "b"} {
		b, _ := secret.SignMember(cluster.Member{ID: id, Location: "grpc://" + id + ":1", Zone: "UTC"})
		if err := r.action(cluster.ActionRegister, b); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := secret.SignMember(cluster.Member{ID: "a", Location: "grpc://a:1", Zone: "UTC"})
	if err := r.action(cluster.ActionDrain, b); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newGauges(newHistory(), r, func() flightsql.Stats { return flightsql.Stats{} }))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "skein_cluster_executors" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	if got["live"] != 1 || got["draining"] != 1 || got["dead"] != 0 {
		t.Fatalf("skein_cluster_executors by state: %v, want live 1, draining 1, dead 0", got)
	}
}
