package executor

import "sync"

// Message bodies of 64 KiB and more (a result stream's batches: most
// near 2 MiB) are reused rather than allocated anew for each frame. A new
// one costs the executor zeroing it and, the garbage collector having
// handed its pages back, page faults on every touch: in `perf record` of
// SELECT * FROM lineitem (TPC-H SF1, direct mode, 2 executors), the spool's
// copies paid about 50 ms of CPU a fetch each way, a third of what
// copying itself took. A body goes back once the spool no longer has it
// (spilled to the file, or dropped unread) or gRPC is done sending it.
//
// Bodies are pooled by capacity, rounded up to bodyGrain, in sync.Pools:
// what sits idle the garbage collector may take, so the pool holds
// memory only while frames keep coming. The spools' budget counts a
// body's length; its capacity is at most bodyGrain more.
const (
	bodyGrain   = 64 << 10
	bodyClasses = 64 // bodies up to 4 MiB are pooled
)

type bodyPool struct {
	classes [bodyClasses]sync.Pool // of *[]byte of capacity (i+1)*bodyGrain
}

// get is n bytes, not zeroed when reused.
func (p *bodyPool) get(n int) []byte {
	c := (n + bodyGrain - 1) / bodyGrain
	if n < bodyGrain || c > bodyClasses {
		return make([]byte, n)
	}
	if b, ok := p.classes[c-1].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, c*bodyGrain)
}

// put gives b back for reuse; nothing else may read or write it after.
// A slice get did not make (its capacity not a class's) is left to the
// garbage collector.
func (p *bodyPool) put(b []byte) {
	c := cap(b) / bodyGrain
	if c == 0 || c > bodyClasses || cap(b)%bodyGrain != 0 {
		return
	}
	b = b[:0]
	p.classes[c-1].Put(&b)
}
