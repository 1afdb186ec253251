package coordinator

import (
	"context"
	"net/url"

	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
)

// codecs are how a query's task outputs are compressed (flightsql.Codec*,
// "" for none): exchange for what the nodes read from each other (a
// producer's partitions, the results the coordinator merges or proxies),
// gather for the last stage's results when the client reads them at the
// executors.
type codecs struct{ exchange, gather string }

// codecsFor decides a query's codecs under --wire-compression: between
// the nodes by the policy, and for a client reading executors directly
// only what it asked for in its call (flightsql.CompressionHeader).
func (d *dist) codecsFor(ctx context.Context, ready []cluster.Member, direct bool) codecs {
	var z codecs
	switch d.compression {
	case CompressionOff:
		return z
	case CompressionZstd, CompressionLZ4:
		z.exchange = d.compression
	default:
		if !allLoopback(ready) {
			z.exchange = CompressionLZ4
		}
	}
	z.gather = z.exchange
	if direct {
		z.gather, _ = flightsql.RequestCodec(ctx) // checked before planning
	}
	return z
}

// allLoopback says whether every executor advertises a loopback address:
// then every hop between the nodes stays on one machine, where compressing
// costs CPU and saves nothing.
func allLoopback(ms []cluster.Member) bool {
	for _, m := range ms {
		u, err := url.Parse(m.Location)
		if err != nil || !isLoopback(u.Hostname()) {
			return false
		}
	}
	return true
}
