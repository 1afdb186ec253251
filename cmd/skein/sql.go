package main

import (
	"context"
	"crypto/tls"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	skeinsql "github.com/skeindb/skein/flightsql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func sqlCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("skein sql", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o connOptions
	fs.StringVar(&o.uri, "uri", "grpc://127.0.0.1:31337", "server URI (grpc:// or grpc+tls://)")
	fs.StringVar(&o.user, "u", "", "user name")
	fs.StringVar(&o.password, "p", "", "password (the shell asks for it when -u is given without one)")
	format := fs.String("format", "table", "output format: "+strings.Join(formats, ", "))
	fs.BoolVar(&o.skipVerify, "tls-skip-verify", false, "do not verify the server's TLS certificate")
	explain := fs.Bool("explain", false, "print how the query is split (mode, tasks, slices, executors, merge SQL) instead of running it (a statement that writes or changes the catalog is refused, not run)")
	history := fs.String("history", defaultHistory(), "the interactive shell's history file (empty: keep none)")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	// A progress bar on the terminal, when the answer goes there too.
	if isTerminal(stdout) && isTerminal(stderr) {
		o.progress = stderr
	}
	query := strings.Join(fs.Args(), " ")
	if strings.TrimSpace(query) == "" && interactive(stdin, stdout) {
		return shellCmd(o, *format, *explain, *history, stdout, stderr)
	}
	if strings.TrimSpace(query) == "" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			fmt.Fprintln(stderr, "skein sql: reading stdin:", err)
			return 1
		}
		query = string(b)
	}
	if strings.TrimSpace(query) == "" {
		fmt.Fprintln(stderr, "skein sql: no SQL given")
		return 2
	}
	if err := runSQL(context.Background(), o, query, *format, *explain, stdout); err != nil {
		fmt.Fprintln(stderr, "skein sql:", errText(err))
		return 1
	}
	return 0
}

// errText is an error as the CLI prints it: a server's with its gRPC code.
func errText(err error) string {
	if st, ok := status.FromError(err); ok {
		return fmt.Sprintf("%s: %s", st.Code(), st.Message())
	}
	return err.Error()
}

// connOptions say where and as whom to connect.
type connOptions struct {
	uri, user, password string
	skipVerify          bool
	progress            io.Writer // where a running query's progress is drawn; nil: nowhere
}

func dial(uri string, skipVerify bool) (*flightsql.Client, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("--uri %q: %w", uri, err)
	}
	var creds credentials.TransportCredentials
	switch u.Scheme {
	case "grpc", "grpc+tcp":
		creds = insecure.NewCredentials()
	case "grpc+tls":
		creds = credentials.NewTLS(&tls.Config{InsecureSkipVerify: skipVerify}) //nolint:gosec // the user asked
	default:
		return nil, fmt.Errorf("--uri %q: scheme must be grpc or grpc+tls", uri)
	}
	// The cookie lets CloseSession find the session a call without a
	// login opened.
	return flightsql.NewClient(u.Host, nil, []flight.ClientMiddleware{flight.NewClientCookieMiddleware()}, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)))
}

func runSQL(ctx context.Context, o connOptions, query, format string, explain bool, out io.Writer) error {
	cn, err := connect(ctx, o)
	if err != nil {
		return err
	}
	defer cn.close()
	return cn.run(cn.auth, query, format, explain, out)
}

// conn is one connection, logged in: the shell runs all its statements on
// it, so that what they set (SET, USE, temporary tables, a transaction)
// lasts from one to the next, as in one DuckDB session.
type conn struct {
	c *flightsql.Client
	// auth carries the login's bearer token; every call's context
	// derives from it.
	auth     context.Context
	progress io.Writer // see connOptions
}

func connect(ctx context.Context, o connOptions) (*conn, error) {
	c, err := dial(o.uri, o.skipVerify)
	if err != nil {
		return nil, err
	}
	if o.user != "" {
		if ctx, err = c.Client.AuthenticateBasicToken(ctx, o.user, o.password); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	return &conn{c: c, auth: ctx, progress: o.progress}, nil
}

// close gives the session back rather than hold it (it counts against the
// server's and the user's session limits) until it idles out.
func (cn *conn) close() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(cn.auth), 5*time.Second)
	defer cancel()
	_, _ = cn.c.CloseSession(ctx, &flight.CloseSessionRequest{})
	_ = cn.c.Close()
}

// run runs one statement and prints its result, or its plan, to out. If
// ctx ends first, the server is told to cancel the query: dropping the
// streams stops what they were reading, and CancelFlightInfo the rest.
func (cn *conn) run(ctx context.Context, query, format string, explain bool, out io.Writer) error {
	var info *flight.FlightInfo
	var err error
	if explain { // nothing runs: nothing to show progress of
		// The server refuses, unrun, a statement that would do its work
		// as it is planned (a write, DDL).
		info, err = cn.c.Execute(metadata.AppendToOutgoingContext(ctx, skeinsql.ExplainHeader, "true"), query)
	} else {
		info, err = cn.plan(ctx, query)
	}
	if err != nil {
		return err
	}
	if explain {
		// The plan was all that was asked for: nothing will fetch it.
		defer cn.cancel(ctx, info)
		return printExplain(out, info)
	}
	schema, recs, err := cn.fetch(ctx, info)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	if err != nil {
		if ctx.Err() != nil {
			cn.cancel(ctx, info)
		}
		return err
	}
	if schema.NumFields() == 0 {
		return nil
	}
	return printResult(out, format, schema, recs)
}

// fetch reads every endpoint of info.
func (cn *conn) fetch(ctx context.Context, info *flight.FlightInfo) (*arrow.Schema, []arrow.RecordBatch, error) {
	schema, err := flight.DeserializeSchema(info.Schema, memory.DefaultAllocator)
	if err != nil {
		return nil, nil, err
	}
	var recs []arrow.RecordBatch
	for _, ep := range info.Endpoint {
		rdr, err := cn.c.DoGet(ctx, ep.Ticket)
		if err != nil {
			return schema, recs, err
		}
		for rdr.Next() {
			rec := rdr.RecordBatch()
			rec.Retain()
			recs = append(recs, rec)
		}
		err = rdr.Err()
		rdr.Release()
		if err != nil {
			return schema, recs, err
		}
	}
	return schema, recs, nil
}

// cancel asks the server to stop the query behind info, whatever became
// of ctx.
func (cn *conn) cancel(ctx context.Context, info *flight.FlightInfo) {
	ctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer stop()
	_, _ = cn.c.CancelFlightInfo(ctx, &flight.CancelFlightInfoRequest{Info: info})
}

// formats are the output formats of --format and the shell's .mode.
var formats = []string{"table", "csv", "json", "line"}

// valueStr is row i of col as text. An extension type without a text
// form of its own (arrow.opaque: DuckDB's VARINT, or a type of another
// vendor) shows its storage's: arrow-go's base extension array panics,
// and a query of 1::VARINT ended skein sql (a tester's).
func valueStr(col arrow.Array, i int) string {
	// Values arrow-go writes otherwise than DuckDB would (a tester's): a
	// HUGEINT past 38 digits in floating point, DuckDB's infinities as
	// the integers that stand for them, 24:00:00 as midnight.
	switch a := col.(type) {
	case *array.Decimal128:
		return decimalText(a.Value(i).BigInt(), a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Timestamp:
		switch a.Value(i) {
		case math.MaxInt64:
			return "infinity"
		case -math.MaxInt64:
			return "-infinity"
		}
	case *array.Date32:
		switch a.Value(i) {
		case math.MaxInt32:
			return "infinity"
		case -math.MaxInt32:
			return "-infinity"
		}
	case *array.Time64:
		if day := arrow.Time64(24 * time.Hour / a.DataType().(*arrow.Time64Type).Unit.Multiplier()); a.Value(i) == day {
			return "24:00:00"
		}
	}
	if ext, ok := col.(array.ExtensionArray); ok {
		switch col.(type) {
		case *extensions.UUIDArray, *extensions.JSONArray, *extensions.Bool8Array,
			*extensions.TimestampWithOffsetArray, *extensions.VariantArray:
		default:
			return ext.Storage().ValueStr(i)
		}
	}
	return col.ValueStr(i)
}

// decimalText is v with scale digits after the point, exactly.
func decimalText(v *big.Int, scale int32) string {
	digits := new(big.Int).Abs(v).String()
	if scale <= 0 {
		return v.String()
	}
	for len(digits) <= int(scale) {
		digits = "0" + digits
	}
	sign := ""
	if v.Sign() < 0 {
		sign = "-"
	}
	return sign + digits[:len(digits)-int(scale)] + "." + digits[len(digits)-int(scale):]
}

func printResult(out io.Writer, format string, schema *arrow.Schema, recs []arrow.RecordBatch) error {
	names := make([]string, schema.NumFields())
	for i, f := range schema.Fields() {
		names[i] = f.Name
	}
	rows := func(yield func([]string, []bool) error) error {
		for _, r := range recs {
			for i := 0; i < int(r.NumRows()); i++ {
				vals, nulls := make([]string, r.NumCols()), make([]bool, r.NumCols())
				for j, col := range r.Columns() {
					nulls[j] = col.IsNull(i)
					if !nulls[j] {
						vals[j] = valueStr(col, i)
					}
				}
				if err := yield(vals, nulls); err != nil {
					return err
				}
			}
		}
		return nil
	}
	switch format {
	case "csv":
		w := csv.NewWriter(out)
		if err := w.Write(names); err != nil {
			return err
		}
		if err := rows(func(v []string, _ []bool) error { return w.Write(v) }); err != nil {
			return err
		}
		w.Flush()
		return w.Error()
	case "json":
		enc := json.NewEncoder(out)
		return rows(func(v []string, nulls []bool) error {
			obj := make(map[string]any, len(v))
			for i, n := range names {
				if nulls[i] {
					obj[n] = nil
				} else {
					obj[n] = v[i]
				}
			}
			return enc.Encode(obj)
		})
	case "line":
		// One column a line, names aligned, a blank line between rows
		// (DuckDB's .mode line): for rows wider than the terminal.
		width := 0
		for _, n := range names {
			width = max(width, utf8.RuneCountInString(n))
		}
		first := true
		return rows(func(v []string, nulls []bool) error {
			if !first {
				if _, err := fmt.Fprintln(out); err != nil {
					return err
				}
			}
			first = false
			for i, n := range names {
				if nulls[i] {
					v[i] = "NULL"
				}
				if _, err := fmt.Fprintf(out, "%*s = %s\n", width, n, v[i]); err != nil {
					return err
				}
			}
			return nil
		})
	case "table":
		w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, strings.Join(names, "\t"))
		dashes := make([]string, len(names))
		for i, n := range names {
			dashes[i] = strings.Repeat("-", max(len(n), 3))
		}
		fmt.Fprintln(w, strings.Join(dashes, "\t"))
		n := 0
		if err := rows(func(v []string, nulls []bool) error {
			for i := range v {
				if nulls[i] {
					v[i] = "NULL"
				}
			}
			n++
			_, err := fmt.Fprintln(w, strings.Join(v, "\t"))
			return err
		}); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		_, err := fmt.Fprintf(out, "(%d rows)\n", n)
		return err
	}
	return fmt.Errorf("--format %q: want %s", format, strings.Join(formats, ", "))
}

// printExplain shows the plan the coordinator put in the FlightInfo's
// app_metadata; for a query run whole on the coordinator, why (a server
// without executors says nothing).
func printExplain(out io.Writer, info *flight.FlightInfo) error {
	if len(info.AppMetadata) == 0 {
		_, err := fmt.Fprintln(out, "mode: local (runs whole on the coordinator)")
		return err
	}
	var plan map[string]any
	if err := json.Unmarshal(info.AppMetadata, &plan); err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	// A server without executors says only the query's id.
	if mode, _ := plan["mode"].(string); mode == "" || mode == "local" {
		text := "mode: local (runs whole on the coordinator)\n"
		if reason, ok := plan["reason"].(string); ok {
			text += "reason: " + reason + "\n"
		}
		_, err := fmt.Fprint(out, text)
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(plan)
}
