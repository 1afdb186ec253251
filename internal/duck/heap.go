package duck

/*
#include <malloc.h>

// skein_heap_in_use is what the process's C heap (glibc's malloc, which
// DuckDB's values and plans use; its buffers come from jemalloc) has
// allocated: in its arenas and in chunks mapped of their own.
static long long skein_heap_in_use(void) {
	struct mallinfo2 m = mallinfo2();
	return (long long)(m.uordblks + m.hblkhd);
}
*/
import "C"

// heapInUse is what the process's C heap has allocated, in bytes.
func heapInUse() int64 { return int64(C.skein_heap_in_use()) }
