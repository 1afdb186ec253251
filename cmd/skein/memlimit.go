package main

import (
	"os"
	"runtime/debug"

	"github.com/rs/zerolog"
)

// goHeadroom is what an executor's Go heap holds beyond its spools' memory
// budget: the frames of exchange streams in flight (gRPC's windows on the
// receiving side, one frame a stream on the sending side), the records a
// consumer decodes, and the batches its running tasks convert.
const goHeadroom = 512 << 20

// setGoMemLimit tells the Go runtime an executor's memory limit, unless
// the operator set GOMEMLIMIT: the spools' memory budget plus goHeadroom.
// Without it the heap grows to twice what is live before a collection
// (GOGC=100), and an executor whose live heap is near 1 GB took 2 GB. The
// limit is soft: over it the collector runs more often, never failing an
// allocation. It returns the limit set, or 0.
func setGoMemLimit(spoolMemory int64, log zerolog.Logger) int64 {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return 0
	}
	limit := spoolMemory + goHeadroom
	debug.SetMemoryLimit(limit)
	log.Debug().Int64("go_memory_limit", limit).Msg("Go memory limit set (GOMEMLIMIT overrides)")
	return limit
}
