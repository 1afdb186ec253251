package duck

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// validRecord checks that a client's record batch is well formed before
// DuckDB reads its buffers: DuckDB trusts the offsets, indices and buffer
// sizes it is given, and one it reads past (a dictionary index beyond its
// dictionary, an offset beyond its values) is a crash of the whole
// process, not an error. Arrow's IPC reader checks a message's framing,
// not this; array.ValidateFull checks every value (O(rows), like the
// conversion that follows).
func validRecord(rec arrow.RecordBatch) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	for i, col := range rec.Columns() {
		if int64(col.Len()) != rec.NumRows() {
			return fmt.Errorf("column %d has %d rows, the batch %d", i+1, col.Len(), rec.NumRows())
		}
		if err := array.ValidateFull(col); err != nil {
			return fmt.Errorf("column %d (%s): %w", i+1, rec.Schema().Field(i).Name, err)
		}
	}
	return nil
}
