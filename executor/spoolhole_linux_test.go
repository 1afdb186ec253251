package executor

import (
	"context"
	"errors"
	"io"
	"syscall"
	"testing"
	"time"
)

// A spool whose reader is slower than its writer, with the disk budget
// full, grows by at most spoolBacklog past the budget, counted and on
// disk: its writer waits for its reader, which gives the file's read
// blocks back. It grew to the whole result (64 MiB here, 3.5 GB against a
// 1 GB budget in a storm of clients).
func TestReadSpoolStaysNearTheDiskBudget(t *testing.T) {
	const frameSize, frames, budget = 1 << 20, 64, 1 << 20
	store := newSpoolStore(t.TempDir(), 64<<10, budget)
	sp := newSpool(store, 1)
	defer sp.release()
	r := sp.take()
	defer r.done()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wrote := make(chan error, 1)
	go func() {
		for i := range frames {
			if err := sp.add(ctx, frame{header: []byte{byte(i)}, body: make([]byte, frameSize)}); err != nil {
				wrote <- err
				return
			}
		}
		sp.finish(nil)
		wrote <- nil
	}()
	var most, mostOnDisk int64
	for n := 0; ; n++ {
		f, err := r.read(ctx)
		if errors.Is(err, io.EOF) {
			if n != frames {
				t.Fatalf("read %d frames of %d", n, frames)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		r.release(f.held)
		time.Sleep(2 * time.Millisecond) // a slow client
		store.mu.Lock()
		most = max(most, store.disk)
		store.mu.Unlock()
		sp.mu.Lock()
		if sp.file != nil {
			var st syscall.Stat_t
			if err := syscall.Fstat(int(sp.file.Fd()), &st); err != nil {
				t.Fatal(err)
			}
			mostOnDisk = max(mostOnDisk, st.Blocks*512)
		}
		sp.mu.Unlock()
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	const bound = budget + spoolBacklog + 2*frameSize
	if most > bound {
		t.Errorf("the spools counted %d bytes on disk at most, want at most %d (the budget and a backlog)", most, int64(bound))
	}
	if mostOnDisk > bound {
		t.Errorf("the spool's file took %d bytes on disk at most, want at most %d", mostOnDisk, int64(bound))
	}
	t.Logf("at most %d bytes counted, %d on disk, of %d written", most, mostOnDisk, frames*frameSize)
}
