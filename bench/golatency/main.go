// Command golatency times statements one at a time from Go: through
// arrow-go's Flight SQL client against a server (-uri), or in process
// through DuckDB's Arrow export (no -uri). bench/workloads.py runs it for
// issue 13's Go-client round trip: the same SELECT 1 and point lookups
// through `skein serve`, through bench/floor (arrow-go's Flight SQL server
// answering from memory) and in process, so that the three are measured by
// one client in one run.
//
// It reads a JSON job from stdin:
//
//	{"setup": ["CREATE VIEW ..."], "warmup": 30,
//	 "cases": [{"name": "SELECT 1", "sqls": ["SELECT 1", ...]}]}
//
// runs the setup statements (in process only: a server is set up by its
// harness), then each case's first warmup statements untimed and every
// statement timed: prepare (or GetFlightInfo), execute and read every
// batch of every endpoint. It prints one JSON object: for each case its
// timings in seconds and, for each statement, its row count and a digest
// of its values, which the harness compares across systems.
//
//	go build -tags duckdb_arrow -o build/golatency ./bench/golatency
//	build/golatency [-uri grpc://127.0.0.1:PORT] [-allow-dir DIR] < job.json
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"hash"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/skeindb/skein/internal/duck"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

type job struct {
	Setup  []string `json:"setup"`
	Warmup int      `json:"warmup"`
	Cases  []struct {
		Name string   `json:"name"`
		SQLs []string `json:"sqls"`
	} `json:"cases"`
}

// result is one case's figures.
type result struct {
	P50     float64  `json:"p50"`
	P99     float64  `json:"p99"`
	Min     float64  `json:"min"`
	Max     float64  `json:"max"`
	N       int      `json:"n"`
	Rows    []int64  `json:"rows"`
	Digests []string `json:"digests"`
}

// runner runs one statement to the end, returning its rows and digest.
type runner func(ctx context.Context, sql string) (int64, string, error)

func main() {
	uri := flag.String("uri", "", "Flight SQL server to time (grpc://HOST:PORT); empty: in-process DuckDB")
	allow := flag.String("allow-dir", "", "in process: the directory the setup's files are in")
	flag.Parse()
	if err := run(*uri, *allow); err != nil {
		fmt.Fprintln(os.Stderr, "golatency:", err)
		os.Exit(1)
	}
}

func run(uri, allow string) error {
	var j job
	if err := json.NewDecoder(os.Stdin).Decode(&j); err != nil {
		return fmt.Errorf("reading the job: %w", err)
	}
	ctx := context.Background()
	var exec runner
	if uri != "" {
		r, closeFn, err := flightRunner(uri)
		if err != nil {
			return err
		}
		defer closeFn()
		exec = r
	} else {
		r, closeFn, err := inProcessRunner(ctx, allow, j.Setup)
		if err != nil {
			return err
		}
		defer closeFn()
		exec = r
	}
	out := map[string]*result{}
	for _, c := range j.Cases {
		for _, sql := range c.SQLs[:min(j.Warmup, len(c.SQLs))] {
			if _, _, err := exec(ctx, sql); err != nil {
				return fmt.Errorf("%s: %w", sql, err)
			}
		}
		r := &result{N: len(c.SQLs)}
		times := make([]float64, 0, len(c.SQLs))
		for _, sql := range c.SQLs {
			start := time.Now()
			rows, digest, err := exec(ctx, sql)
			if err != nil {
				return fmt.Errorf("%s: %w", sql, err)
			}
			times = append(times, time.Since(start).Seconds())
			r.Rows = append(r.Rows, rows)
			r.Digests = append(r.Digests, digest)
		}
		if len(times) == 0 {
			return fmt.Errorf("case %q has no statement", c.Name)
		}
		slices.Sort(times)
		r.P50, r.P99 = rank(times, 0.50), rank(times, 0.99)
		r.Min, r.Max = times[0], times[len(times)-1]
		out[c.Name] = r
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"cases": out})
}

// rank is the q-th quantile of sorted times, interpolated between ranks as
// bench/measure.py's percentile does.
func rank(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(pos)
	if lo+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (sorted[lo+1]-sorted[lo])*(pos-float64(lo))
}

// flightRunner runs each statement as a Go program would: Execute
// (GetFlightInfo of a CommandStatementQuery), then DoGet of each endpoint
// on the same connection, reading every batch. It keeps the server's
// session cookie, as ADBC and JDBC do: one session for every statement.
func flightRunner(uri string) (runner, func(), error) {
	cl, err := flightsql.NewClient(strings.TrimPrefix(uri, "grpc://"), nil,
		[]flight.ClientMiddleware{flight.NewClientCookieMiddleware()},
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to %s: %w", uri, err)
	}
	return func(ctx context.Context, sql string) (int64, string, error) {
		info, err := cl.Execute(ctx, sql)
		if err != nil {
			return 0, "", err
		}
		d := newDigest()
		for _, ep := range info.Endpoint {
			rdr, err := cl.DoGet(ctx, ep.Ticket)
			if err != nil {
				return 0, "", err
			}
			err = d.read(rdr)
			rdr.Release()
			if err != nil {
				return 0, "", err
			}
		}
		return d.rows, d.sum(), nil
	}, func() { _ = cl.Close() }, nil
}

// inProcessRunner runs each statement through DuckDB's Arrow export in
// this process: prepare, execute, read. The database is a file, as a
// server's is.
func inProcessRunner(ctx context.Context, allow string, setup []string) (runner, func(), error) {
	dir, err := os.MkdirTemp("", "golatency")
	if err != nil {
		return nil, nil, err
	}
	dirs := []string{dir}
	if allow != "" {
		dirs = append(dirs, allow)
	}
	db, err := duck.Open(ctx, duck.Config{Path: filepath.Join(dir, "golatency.duckdb"), AllowedDirs: dirs})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	conn, err := db.Connect(ctx)
	if err != nil {
		_ = db.Close()
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	closeFn := func() { _ = conn.Close(); _ = db.Close(); _ = os.RemoveAll(dir) }
	for _, s := range setup {
		if _, err := conn.Exec(ctx, s); err != nil {
			closeFn()
			return nil, nil, fmt.Errorf("setup %s: %w", s, err)
		}
	}
	return func(ctx context.Context, sql string) (int64, string, error) {
		st, err := conn.Prepare(ctx, sql)
		if err != nil {
			return 0, "", err
		}
		defer st.Close()
		rdr, err := st.Query(ctx, memory.DefaultAllocator, nil, duck.DefaultBatchSize)
		if err != nil {
			return 0, "", err
		}
		defer rdr.Release()
		d := newDigest()
		err = d.read(rdr)
		return d.rows, d.sum(), err
	}, closeFn, nil
}

// digest counts rows and hashes their values as text, column by column,
// whatever the batches' boundaries.
type digest struct {
	rows int64
	h    hash.Hash64
}

func newDigest() *digest { return &digest{h: fnv.New64a()} }

// reader is what both Arrow readers give.
type reader interface {
	Next() bool
	RecordBatch() arrow.RecordBatch
	Err() error
}

func (d *digest) read(r reader) error {
	for r.Next() {
		rec := r.RecordBatch()
		for i := range int(rec.NumRows()) {
			for _, col := range rec.Columns() {
				_, _ = d.h.Write([]byte(valueText(col, i)))
				_, _ = d.h.Write([]byte{0})
			}
		}
		d.rows += rec.NumRows()
	}
	return r.Err()
}

func valueText(col arrow.Array, i int) string {
	if col.IsNull(i) {
		return "\x01NULL"
	}
	return col.ValueStr(i)
}

func (d *digest) sum() string { return fmt.Sprintf("%016x", d.h.Sum64()) }
