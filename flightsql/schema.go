package flightsql

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/internal/joined"
)

// ResultSchema is a result schema as clients see it: DuckDB's Arrow export
// plus Flight SQL column metadata where a driver needs it. The JDBC driver
// reads a DECIMAL column's precision and scale only from the metadata keys
// ARROW:FLIGHT:SQL:PRECISION and :SCALE. A schema that needs nothing is
// returned as is.
func ResultSchema(sc *arrow.Schema) *arrow.Schema {
	fields := sc.Fields()
	changed := false
	for i, f := range fields {
		if d, ok := f.Type.(arrow.DecimalType); ok && f.Metadata.Len() == 0 {
			fields[i].Metadata = flightsql.NewColumnMetadataBuilder().
				Precision(d.GetPrecision()).Scale(d.GetScale()).Metadata()
			changed = true
		}
	}
	if !changed {
		return sc
	}
	md := sc.Metadata()
	return arrow.NewSchema(fields, &md)
}

// Relabel gives rec the schema clients were promised; the columns are
// shared, not copied. It consumes rec.
func Relabel(rec arrow.RecordBatch, sc *arrow.Schema) arrow.RecordBatch {
	if rec.Schema() == sc {
		return rec
	}
	if out, ok := joined.Relabel(rec, sc); ok {
		return out
	}
	out := array.NewRecordBatch(sc, rec.Columns(), rec.NumRows())
	rec.Release()
	return out
}
