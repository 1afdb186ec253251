package duck

import (
	"context"
	"testing"
)

// BenchmarkCheckNesting is the check's cost on a short query, with the
// views and macros listed once (the catalog unchanged) and listed again
// each time (a statement that changed it ran in between).
func BenchmarkCheckNesting(b *testing.B) {
	db, err := Open(context.Background(), Config{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	c, err := db.Connect(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Exec(ctx, "CREATE VIEW v AS SELECT count(*) AS c FROM range(3)"); err != nil {
		b.Fatal(err)
	}
	const q = "SELECT l_returnflag, sum(l_quantity) FROM lineitem WHERE l_shipdate <= DATE '1998-09-02' GROUP BY 1 ORDER BY 1"
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if err := c.CheckNesting(ctx, q, DefaultMaxNesting); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("listed", func(b *testing.B) {
		for b.Loop() {
			c.db.changed()
			if err := c.CheckNesting(ctx, q, DefaultMaxNesting); err != nil {
				b.Fatal(err)
			}
		}
	})
}
