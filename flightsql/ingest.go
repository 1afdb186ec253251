package flightsql

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/internal/duck"
	"google.golang.org/grpc/status"
)

// DoPutCommandStatementIngest loads an Arrow stream into a table through
// DuckDB's appender, as one transaction unless the session has one open.
func (s *Server) DoPutCommandStatementIngest(ctx context.Context, cmd flightsql.StatementIngest, rdr flight.MessageReader) (int64, error) {
	if err := allowWrite(ctx, "load data"); err != nil {
		return 0, err
	}
	if explainOnly(ctx) {
		return 0, errExplainWrite
	}
	if cmd.GetTable() == "" {
		return 0, fmt.Errorf("%w: ingest needs a table name", ErrInvalid)
	}
	for _, name := range []string{cmd.GetCatalog(), cmd.GetSchema(), cmd.GetTable()} {
		if len(name) > maxIngestName {
			return 0, fmt.Errorf("%w: an ingest's catalog, schema and table names are at most %d bytes, not %d", ErrInvalid, maxIngestName, len(name))
		}
	}
	mode, err := ingestMode(cmd.GetTableDefinitionOptions())
	if err != nil {
		return 0, err
	}
	// The columns' names become the text of the table's CREATE, bounded
	// as a client's SQL is: unbounded, one 40 MB name took a coordinator
	// from 418 to 1,682 MB for 38 s (a tester's).
	if sc := rdr.Schema(); sc == nil { // it did not decode
		return 0, cmp.Or((&clientStream{MessageReader: rdr}).Err(), fmt.Errorf("%w: the ingest's stream has no schema", ErrInvalid))
	} else if max, n := cmp.Or(s.cfg.MaxSQLBytes, DefaultMaxSQLBytes), namesBytes(sc.Fields()); max > 0 && n > max {
		return 0, fmt.Errorf("%w: the ingest's column names come to %d bytes, over the server's limit of %d for SQL text (--max-sql-bytes)",
			ErrInvalid, n, max)
	}
	sess, err := s.sessionForTxn(ctx, cmd.GetTransactionId())
	if err != nil {
		return 0, err
	}
	t := duck.Table{Catalog: cmd.GetCatalog(), Schema: cmd.GetSchema(), Name: cmd.GetTable(), Temporary: cmd.GetTemporary()}
	return withSession(ctx, sess, func() (int64, error) {
		n, err := sess.conn.Ingest(ctx, t, mode, &clientStream{MessageReader: rdr, maxDictionary: int64(s.cfg.MaxMessageBytes)})
		if err != nil {
			return 0, err
		}
		s.log.Debug().Str("table", t.Quoted()).Int64("rows", n).Msg("ingested")
		return n, nil
	})
}

// clientStream is a client's Arrow stream, whose errors other than the
// call's own (a status: cancelled, cut off) are the client's: a stream
// that does not decode (a second schema midway, a body shorter than its
// header) is InvalidArgument, as a malformed batch is (it was Internal,
// a tester's).
//
// Its dictionaries are bounded by what one message may hold
// (--max-message-mb): a stream of dictionary deltas, each message small,
// grew one without bound, every batch converted with all of it (200 MB
// over 100 deltas took a server to 1.2 GB, a tester's).
type clientStream struct {
	flight.MessageReader
	maxDictionary int64 // 0: no bound
	err           error
}

func (c *clientStream) Next() bool {
	if c.err != nil || !c.MessageReader.Next() {
		return false
	}
	if n := dictionaryBytes(c.RecordBatch().Columns()); c.maxDictionary > 0 && n > c.maxDictionary {
		c.err = fmt.Errorf("%w: the stream's dictionaries came to %d bytes, more than one message may hold (%d, --max-message-mb): "+
			"send the values, or smaller dictionaries", ErrBusy, n, c.maxDictionary)
		return false
	}
	return true
}

// dictionaryBytes is the size of the dictionaries the arrays hold, at
// every depth.
func dictionaryBytes(cols []arrow.Array) int64 {
	var dicts, all func(d arrow.ArrayData) int64
	all = func(d arrow.ArrayData) int64 { // d whole
		var n int64
		for _, b := range d.Buffers() {
			if b != nil {
				n += int64(b.Len())
			}
		}
		if dict := dictionaryOf(d); dict != nil {
			n += all(dict)
		}
		for _, c := range d.Children() {
			n += all(c)
		}
		return n
	}
	dicts = func(d arrow.ArrayData) int64 { // the dictionaries in d
		var n int64
		if dict := dictionaryOf(d); dict != nil {
			n += all(dict)
		}
		for _, c := range d.Children() {
			n += dicts(c)
		}
		return n
	}
	var n int64
	for _, c := range cols {
		n += dicts(c.Data())
	}
	return n
}

// dictionaryOf is d's dictionary, nil if none (arrow-go's Dictionary
// gives a nil *Data in an interface).
func dictionaryOf(d arrow.ArrayData) arrow.ArrayData {
	if dict, ok := d.Dictionary().(*array.Data); ok && dict != nil {
		return dict
	}
	return nil
}

func (c *clientStream) Err() error {
	if c.err != nil {
		return c.err
	}
	err := c.MessageReader.Err()
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return fmt.Errorf("%w: a malformed Arrow stream: %w", ErrInvalid, err)
}

// maxIngestName bounds the names an ingest is given: they become SQL
// DuckDB parses, past --max-sql-bytes (a 15 MB table name took a
// coordinator to 865 MB, a tester's).
const maxIngestName = 1024

func ingestMode(o *flightsql.TableDefinitionOptions) (duck.IngestMode, error) {
	var m duck.IngestMode
	if o == nil {
		return duck.IngestMode{CreateIfMissing: true}, nil
	}
	switch o.IfNotExist {
	case flightsql.TableDefinitionOptionsTableNotExistOptionCreate, flightsql.TableDefinitionOptionsTableNotExistOptionUnspecified:
		m.CreateIfMissing = true
	case flightsql.TableDefinitionOptionsTableNotExistOptionFail:
	default:
		return m, fmt.Errorf("%w: unknown if_not_exist option %v", ErrInvalid, o.IfNotExist)
	}
	switch o.IfExists {
	case flightsql.TableDefinitionOptionsTableExistsOptionAppend:
		m.Append = true
	case flightsql.TableDefinitionOptionsTableExistsOptionReplace:
		m.Replace = true
	case flightsql.TableDefinitionOptionsTableExistsOptionFail, flightsql.TableDefinitionOptionsTableExistsOptionUnspecified:
	default:
		return m, fmt.Errorf("%w: unknown if_exists option %v", ErrInvalid, o.IfExists)
	}
	return m, nil
}

// namesBytes is how many bytes the names of fields come to, the fields
// they nest included.
func namesBytes(fields []arrow.Field) int {
	n := 0
	for _, f := range fields {
		n += len(f.Name)
		t := f.Type
		for {
			switch u := t.(type) {
			case *arrow.DictionaryType:
				t = u.ValueType
				continue
			case arrow.ExtensionType:
				t = u.StorageType()
				continue
			case arrow.NestedType:
				n += namesBytes(u.Fields())
			}
			break
		}
	}
	return n
}
