package flightwire

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/skeindb/skein/internal/flighttest"
)

// schemaHeader is the flatbuffer of schema's IPC message, as a Flight
// client sends it in data_header.
func schemaHeader(t testing.TB, schema *arrow.Schema) []byte {
	t.Helper()
	b := flight.SerializeSchema(schema, memory.DefaultAllocator)
	return b[8:] // after the continuation marker and the length
}

// A real schema's levels are counted as the result bound counts them (a
// list, a struct one each, a map two), and its fields at every level.
func TestCheckSchemaCountsLevels(t *testing.T) {
	inner := arrow.MapOf(arrow.PrimitiveTypes.Int32, arrow.BinaryTypes.String) // 2 levels
	typ := arrow.ListOf(arrow.StructOf(arrow.Field{Name: "m", Type: inner, Nullable: true}))
	h := schemaHeader(t, arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int64},
		{Name: "b", Type: typ, Nullable: true},
	}, nil))
	// list (1), struct (2), map (3), entries (4): a, b, item, m,
	// entries, key, value.
	if err := CheckSchema(h, 4, 7); err != nil {
		t.Fatalf("4 levels, 7 fields: %v", err)
	}
	if err := CheckSchema(h, 3, 7); !errors.Is(err, ErrSchema) {
		t.Fatalf("over 3 levels: %v", err)
	}
	if err := CheckSchema(h, 4, 6); !errors.Is(err, ErrSchema) {
		t.Fatalf("over 6 fields: %v", err)
	}
}

// A column nested a million levels deep (which overflowed arrow-go's
// recursion, and the Go stack with it) and a tree of 2^50 fields in a
// few hundred bytes are refused at once; 63 levels pass.
func TestCheckSchemaRefusesDeepAndExplodingSchemas(t *testing.T) {
	if err := CheckSchema(flighttest.NestedSchemaHeader(63, 1), 63, 1000); err != nil {
		t.Fatalf("63 levels: %v", err)
	}
	for _, c := range []struct {
		name         string
		depth, width int
	}{{"64 levels", 64, 1}, {"a million levels", 1_000_000, 1}, {"2^50 fields", 50, 2}} {
		if err := CheckSchema(flighttest.NestedSchemaHeader(c.depth, c.width), 63, 100_000); !errors.Is(err, ErrSchema) {
			t.Errorf("%s: %v, want a refusal", c.name, err)
		}
	}
}

// Malformed headers (truncated, or random bytes) are refused or passed,
// never read out of bounds.
func TestCheckSchemaSurvivesMalformedHeaders(t *testing.T) {
	h := flighttest.NestedSchemaHeader(5, 2)
	for n := range len(h) {
		_ = CheckSchema(h[:n], 63, 1000)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20_000 {
		b := make([]byte, r.IntN(64))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		_ = CheckSchema(b, 63, 1000)
	}
	for range 5_000 {
		b := append([]byte(nil), h...)
		b[r.IntN(len(b))] = byte(r.IntN(256))
		_ = CheckSchema(b, 63, 1000)
	}
}

// FuzzCheckSchema: any header is refused or passed, never read out of
// bounds; one that passes arrow-go reads within the bounds checked.
func FuzzCheckSchema(f *testing.F) {
	f.Add(flighttest.NestedSchemaHeader(3, 1))
	f.Add(flighttest.NestedSchemaHeader(4, 2))
	f.Add(schemaHeader(f, arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.ListOf(arrow.MapOf(arrow.PrimitiveTypes.Int32, arrow.BinaryTypes.String))},
		{Name: "b", Type: arrow.StructOf(arrow.Field{Name: "c", Type: arrow.PrimitiveTypes.Float64})},
	}, nil)))
	f.Fuzz(func(t *testing.T, header []byte) {
		_ = CheckSchema(header, 63, 1000)
	})
}
