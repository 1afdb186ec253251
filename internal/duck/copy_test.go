package duck

import (
	"reflect"
	"testing"
)

func TestParseCopy(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want *CopyTo
	}{
		{`COPY (SELECT 'a)' AS x /* ) */) TO '/d/out/' (FORMAT parquet, COMPRESSION 'zstd', OVERWRITE)`, &CopyTo{
			Query: `SELECT 'a)' AS x /* ) */`, Target: "/d/out/", Options: []CopyOption{
				{Name: "format", Value: "parquet", Kind: 'w'}, {Name: "compression", Value: "zstd", Kind: 's'}, {Name: "overwrite"}}}},
		{"copy ( select (1) ) to 'x' with (partition_by (a, b), row_group_size 10)", &CopyTo{
			Query: "select (1)", Target: "x", Options: []CopyOption{{Name: "partition_by", Kind: '?'}, {Name: "row_group_size", Value: "10", Kind: 'w'}}}},
		{"COPY (SELECT 1) TO 'x'", &CopyTo{Query: "SELECT 1", Target: "x"}},
		{"COPY t TO 'x' (FORMAT parquet)", nil},
		{"COPY (SELECT 1) TO E'x'", nil},
		{"COPY (SELECT 1) TO 'x' || 'y'", nil},
		{"COPY (SELECT 1) TO 'x'; SELECT 2", nil},
		{"COPY (SELECT 1) TO 'x' (FORMAT parquet,)", nil},
		{"COPY () TO 'x'", nil},
		{"COPY t FROM 'x'", nil},
	} {
		got, ok := ParseCopy(tc.sql)
		if ok != (tc.want != nil) || ok && !reflect.DeepEqual(got, *tc.want) {
			t.Errorf("ParseCopy(%q) = %+v, %v", tc.sql, got, ok)
		}
	}
}
