package flightsql

import (
	"os"
	"testing"
)

// The descriptor count read from the size of /proc/self/fd (Linux 6.2
// and later) is the listing's, as descriptors open and close; on a
// kernel that reports no size openFiles is the listing.
func TestOpenFilesCountsWhatTheListingCounts(t *testing.T) {
	before := openFilesListed()
	if before <= 0 {
		t.Fatalf("listing /proc/self/fd: %d", before)
	}
	var files []*os.File
	for range 100 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	stat, listed := openFilesStat(), openFilesListed()
	if listed != before+100 {
		t.Fatalf("100 files opened: the listing went from %d to %d", before, listed)
	}
	if stat != 0 && stat != listed {
		t.Fatalf("stat says %d descriptors, the listing %d", stat, listed)
	}
	if got := openFiles(); got != listed {
		t.Fatalf("openFiles %d, the listing %d", got, listed)
	}
	for _, f := range files {
		_ = f.Close()
	}
	if got := openFiles(); got != before {
		t.Fatalf("closed again: openFiles %d, want %d", got, before)
	}
	t.Logf("stat reports %d (0: this kernel reports no size)", stat)
}
