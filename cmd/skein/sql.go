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
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

func sqlCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("skein sql", flag.ContinueOnError)
	fs.SetOutput(stderr)
	uri := fs.String("uri", "grpc://127.0.0.1:31337", "server URI (grpc:// or grpc+tls://)")
	user := fs.String("u", "", "user name")
	password := fs.String("p", "", "password")
	format := fs.String("format", "table", "output format: table, csv or json")
	skipVerify := fs.Bool("tls-skip-verify", false, "do not verify the server's TLS certificate")
	explain := fs.Bool("explain", false, "print how the query is split (mode, tasks, slices, executors, merge SQL) instead of running it")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	query := strings.Join(fs.Args(), " ")
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
	if err := runSQL(context.Background(), *uri, *user, *password, *skipVerify, query, *format, *explain, stdout); err != nil {
		if st, ok := status.FromError(err); ok {
			fmt.Fprintf(stderr, "skein sql: %s: %s\n", st.Code(), st.Message())
		} else {
			fmt.Fprintln(stderr, "skein sql:", err)
		}
		return 1
	}
	return 0
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

func runSQL(ctx context.Context, uri, user, password string, skipVerify bool, query, format string, explain bool, out io.Writer) error {
	c, err := dial(uri, skipVerify)
	if err != nil {
		return err
	}
	defer c.Close()
	if user != "" {
		if ctx, err = c.Client.AuthenticateBasicToken(ctx, user, password); err != nil {
			return err
		}
	}
	// One command, one session: give it back rather than hold it (it
	// counts against the server's and the user's session limits) until
	// it idles out.
	defer func() { _, _ = c.CloseSession(context.WithoutCancel(ctx), &flight.CloseSessionRequest{}) }()
	info, err := c.Execute(ctx, query)
	if err != nil {
		return err
	}
	if explain {
		return printExplain(out, info)
	}
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	schema, err := flight.DeserializeSchema(info.Schema, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	for _, ep := range info.Endpoint {
		rdr, err := c.DoGet(ctx, ep.Ticket)
		if err != nil {
			return err
		}
		for rdr.Next() {
			rec := rdr.RecordBatch()
			rec.Retain()
			recs = append(recs, rec)
		}
		err = rdr.Err()
		rdr.Release()
		if err != nil {
			return err
		}
	}
	if schema.NumFields() == 0 {
		return nil
	}
	return printResult(out, format, schema, recs)
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
						vals[j] = col.ValueStr(i)
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
	return fmt.Errorf("--format %q: want table, csv or json", format)
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
	if reason, ok := plan["reason"].(string); ok && plan["mode"] == "local" {
		_, err := fmt.Fprintf(out, "mode: local (runs whole on the coordinator)\nreason: %s\n", reason)
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(plan)
}
