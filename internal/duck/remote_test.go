package duck

import "testing"

func TestRemote(t *testing.T) {
	for path, want := range map[string]bool{
		"s3://bkt/data/*.parquet": true,
		"S3://bkt/x":              true,
		"gs://bkt/x":              true,
		"file:///data/x.parquet":  false,
		"/data/x.parquet":         false,
		"data/x.parquet":          false,
		"/data/a://b.parquet":     false, // a local name holding "://"
		"":                        false,
	} {
		if got := Remote(path); got != want {
			t.Errorf("Remote(%q) = %v", path, got)
		}
	}
}
