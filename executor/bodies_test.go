package executor

import (
	"context"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// A frame's body goes back to the spools' pool once its reader has sent
// it, and the next frame of about its size is written into it; a frame
// dropped unread gives its body back too. (sync.Pool drops some of what
// it is given under the race detector, so the test asks for reuse in
// some of many rounds, not in each.)
func TestSpoolBodiesAreReused(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer alloc.AssertSize(t, 0)
	store := newSpoolStore(t.TempDir(), 1<<30, 1<<30)
	spoolOf := func() *spool {
		sp := newSpool(store, 1)
		w := newSpoolWriter(payloads{ctx: context.Background(), sp: sp}, kxs, false,
			ipc.WithSchema(kxs), ipc.WithAllocator(alloc))
		for range 2 {
			rec := testBatch(alloc, 0, 5000) // a body over bodyGrain
			err := w.Write(rec)
			rec.Release()
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		sp.finish(nil)
		return sp
	}
	data := func(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
	reusedSent, reusedDropped := 0, 0
	for range 20 {
		sp := spoolOf()
		r := sp.take()
		seen := map[uintptr]bool{}
		size := 0
		eachFrame(t, r, func(f sendFrame) {
			if len(f.body) >= bodyGrain {
				seen[data(f.body)], size = true, len(f.body)
			}
			r.sent(f)
		})
		r.done()
		if size == 0 {
			t.Fatal("no body over bodyGrain")
		}
		if b := store.bodies.get(size); seen[data(b)] {
			reusedSent++
		}

		// Unread: released with the spool.
		sp = spoolOf()
		seen = map[uintptr]bool{}
		for _, f := range sp.mem {
			if len(f.body) >= bodyGrain {
				seen[data(f.body)] = true
			}
		}
		sp.release()
		if b := store.bodies.get(size); seen[data(b)] {
			reusedDropped++
		}
	}
	if reusedSent == 0 || reusedDropped == 0 {
		t.Errorf("bodies reused in %d of 20 rounds after they were sent, %d after they were dropped", reusedSent, reusedDropped)
	}
	if store.mem != 0 || store.sending != 0 {
		t.Errorf("the spools still count %d bytes (%d sending)", store.mem, store.sending)
	}
}

// The pool keeps bodies of bodyGrain and more, by capacity rounded up to
// bodyGrain, and leaves any other slice alone.
func TestBodyPoolClasses(t *testing.T) {
	var p bodyPool
	if b := p.get(100); len(b) != 100 || cap(b) != 100 {
		t.Errorf("a small body: len %d cap %d", len(b), cap(b))
	}
	b := p.get(bodyGrain + 1)
	if len(b) != bodyGrain+1 || cap(b) != 2*bodyGrain {
		t.Errorf("a body of a grain and a byte: len %d cap %d, want cap %d", len(b), cap(b), 2*bodyGrain)
	}
	if b := p.get(bodyClasses*bodyGrain + 1); cap(b) != bodyClasses*bodyGrain+1 {
		t.Errorf("a body over the largest class: cap %d", cap(b))
	}
	p.put(make([]byte, 3*bodyGrain+5)) // not a class's capacity: dropped
	for i := range p.classes {
		if v := p.classes[i].Get(); v != nil {
			t.Errorf("class %d holds a slice of capacity %d", i, cap(*v.(*[]byte)))
		}
	}
}
