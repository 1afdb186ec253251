package partition

import "testing"

// TestDateTimeLiterals checks the constants pruning reads as DuckDB does
// (DATE 'x' - DATE '1970-01-01', epoch_us(TIMESTAMP 'x'), asked of DuckDB
// 1.5), and that text in any other form than the one taken is none:
// DuckDB reads some of it (24:00:00, a T, seven digits of a second), but
// pruning leaves it alone rather than copy its parser.
func TestDateTimeLiterals(t *testing.T) {
	days := map[string]int64{"1970-01-01": 0, "1969-12-31": -1, "0001-01-01": -719162, "2000-02-29": 11016,
		"9999-12-31": 2932896}
	for s, want := range days {
		if got, ok := dateDays(s); !ok || got != want {
			t.Errorf("dateDays(%q) = %d, %v; want %d", s, got, ok, want)
		}
	}
	micros := map[string]int64{"1969-12-31 23:59:59.999999": -1, "0001-01-01 00:00:00": -62135596800000000,
		"1970-01-01 00:00:00.5": 500000, "1970-01-02": 86400000000}
	for s, want := range micros {
		if got, ok := timestampMicros(s); !ok || got != want {
			t.Errorf("timestampMicros(%q) = %d, %v; want %d", s, got, ok, want)
		}
	}
	for _, s := range []string{"1995-02-30", "1995-1-1", "0000-01-01", " 1995-01-01", "1995-01-01 (BC)", "infinity", "1995-01-01 00:00:00"} {
		if _, ok := dateDays(s); ok {
			t.Errorf("dateDays(%q) taken", s)
		}
	}
	for _, s := range []string{"1995-01-01 24:00:00", "1995-01-01 10:00", "1995-01-01 10:00:00.1234567", "1995-01-01T10:00:00",
		"1995-01-01 10:00:00+02", "1995-02-30 10:00:00", "1995-01-01 10:60:00"} {
		if _, ok := timestampMicros(s); ok {
			t.Errorf("timestampMicros(%q) taken", s)
		}
	}
}
