package cluster

import (
	"errors"
	"strings"
	"testing"

	"github.com/skeindb/skein/internal/token"
)

// plan signs a diamond of tasks of query q: 0 and 1 scan, 2 and 3 each read
// both, 4 reads 2 and 3. It returns the handles.
func plan(t *testing.T, s Secret, q string) []string {
	t.Helper()
	reads := [][]int{nil, nil, {0, 1}, {0, 1}, {2, 3}}
	set := NewHandles()
	for i, r := range reads {
		task := Task{Query: q, Task: i, SQL: "SELECT " + strings.Repeat("1", 100)}
		if len(r) > 0 {
			in := Input{Table: "skein_x"}
			for _, p := range r {
				in.Sources = append(in.Sources, Source{Task: p, Locations: []string{"grpc://e"}})
			}
			task.Inputs = []Input{in}
		}
		tk, err := s.SignTask(task)
		if err != nil {
			t.Fatal(err)
		}
		set.Add(i, tk, r)
	}
	var out []string
	for i := range reads {
		h, err := set.Handle(i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	return out
}

// A handle carries every upstream ticket once, and verifying it gives each
// source the handle its producer was signed with, which verifies in turn:
// any executor can run a lost producer from its consumer's handle.
// verified is VerifyTask and WithSources, as a task fetching its inputs
// calls them.
func verified(s Secret, handle string) (Task, error) {
	t, err := s.VerifyTask([]byte(handle))
	if err != nil {
		return t, err
	}
	return s.WithSources(t)
}

func TestHandlesCarryEachProducerOnce(t *testing.T) {
	s := NewSecret()
	h := plan(t, s, "q1")
	if n := strings.Count(h[4], BundleSep); n != 4 {
		t.Fatalf("task 4's handle carries %d tickets, want 4 (tasks 0 to 3, once each)", n)
	}
	if strings.Contains(h[0], BundleSep) {
		t.Fatalf("a scan's handle carries tickets: %q", h[0])
	}
	top, err := verified(s, h[4])
	if err != nil {
		t.Fatal(err)
	}
	for i, src := range top.Inputs[0].Sources {
		if src.Handle != h[2+i] {
			t.Fatalf("source %d: handle %.40q, want task %d's", i, src.Handle, 2+i)
		}
		mid, err := verified(s, src.Handle)
		if err != nil {
			t.Fatal(err)
		}
		if mid.Task != 2+i || mid.Inputs[0].Sources[1].Handle != h[1] {
			t.Fatalf("producer %d: %+v", 2+i, mid)
		}
	}
	if TopTicket(h[4]) == h[4] || TopTicket(h[0]) != h[0] {
		t.Fatal("TopTicket")
	}
}

// A handle whose bundle is tampered with is refused: a ticket of another
// query, a ticket signed with another key, a producer left out.
func TestTamperedHandlesAreRefused(t *testing.T) {
	s := NewSecret()
	h := plan(t, s, "q1")
	other := plan(t, s, "q2")
	parts := strings.Split(h[4], BundleSep)
	swapped := strings.Join(append(parts[:1:1], strings.Split(other[4], BundleSep)[1:]...), BundleSep)
	if _, err := verified(s, swapped); err == nil || !strings.Contains(err.Error(), "query q2") {
		t.Fatalf("another query's producers: %v", err)
	}
	forged := strings.Join(append(parts[:1:1], strings.Split(plan(t, NewSecret(), "q1")[4], BundleSep)[1:]...), BundleSep)
	if _, err := verified(s, forged); !errors.Is(err, token.ErrSignature) {
		t.Fatalf("producers signed with another key: %v", err)
	}
	missing := strings.Join(parts[:len(parts)-1], BundleSep)
	if _, err := verified(s, missing); err == nil || !strings.Contains(err.Error(), "not in the handle") {
		t.Fatalf("a producer left out: %v", err)
	}
}

// BenchmarkVerifyTask verifies a handle carrying 57 upstream tickets, as
// a join task's of TPC-H Q12 at --task-rows 100000 does: its own ticket
// only (a partition's read) or with its sources (a task fetching inputs).
func BenchmarkVerifyTask(b *testing.B) {
	s := NewSecret()
	set := NewHandles()
	var reads []int
	for i := range 57 {
		tk, err := s.SignTask(Task{Query: "q", Task: i, SQL: strings.Repeat("x", 600)})
		if err != nil {
			b.Fatal(err)
		}
		set.Add(i, tk, nil)
		reads = append(reads, i)
	}
	in := Input{Table: "skein_x0"}
	for _, r := range reads {
		in.Sources = append(in.Sources, Source{Task: r, Locations: []string{"grpc://e"}})
	}
	tk, err := s.SignTask(Task{Query: "q", Task: 57, SQL: strings.Repeat("x", 600), Inputs: []Input{in}})
	if err != nil {
		b.Fatal(err)
	}
	set.Add(57, tk, reads)
	h, err := set.Handle(57)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("own", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.VerifyTask([]byte(h)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sources", func(b *testing.B) {
		for b.Loop() {
			if _, err := verified(s, h); err != nil {
				b.Fatal(err)
			}
		}
	})
}
