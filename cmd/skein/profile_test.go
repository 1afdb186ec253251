package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// skein serve --profile-dir writes a CPU and an allocation profile of the
// process when it is told to stop, named after the command and the pid;
// without the flag it writes nothing anywhere.
func TestServeProfileDir(t *testing.T) {
	// Every allocation sampled: the allocation profile must then hold the
	// coordinator's start-up, whatever the sampling would have picked.
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1

	dir := filepath.Join(t.TempDir(), "profiles")
	uri, done := startServe(t, "--profile-dir", dir)
	var out, errOut bytes.Buffer
	if code := run([]string{"sql", "--uri", uri, "SELECT sum(range) FROM range(20000000)"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("sql: %d %s", code, errOut.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("before the signal %s holds %v, want the CPU profile being written", dir, entries)
	}
	stopServe(t, done)

	base := filepath.Join(dir, "serve-"+strconv.Itoa(os.Getpid()))
	cpu := profileStrings(t, base+".cpu.pprof")
	for _, want := range []string{"cpu", "nanoseconds", "samples"} {
		if !cpu[want] {
			t.Errorf("the CPU profile has no sample type %q", want)
		}
	}
	alloc := profileStrings(t, base+".alloc.pprof")
	for _, want := range []string{"alloc_space", "inuse_space", "github.com/skeindb/skein/coordinator.Start"} {
		if !alloc[want] {
			t.Errorf("the allocation profile has no %q", want)
		}
	}
}

func TestServeProfileDirOff(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd)
	_, done := startServe(t)
	stopServe(t, done)
	var found []string
	_ = filepath.Walk(cwd, func(path string, _ os.FileInfo, _ error) error {
		if strings.HasSuffix(path, ".pprof") {
			found = append(found, path)
		}
		return nil
	})
	if len(found) > 0 {
		t.Fatalf("profiles written without --profile-dir: %v", found)
	}
}

// startServe runs skein serve in this process with args and returns its
// URI once it printed ready, and the channel of its exit status.
func startServe(t *testing.T, args ...string) (string, <-chan int) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var errOut bytes.Buffer
	go func() {
		argv := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data"),
			"--executors", "1", "--log-level", "warn"}, args...)
		done <- run(argv, nil, pw, &errOut)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if uri, ok := strings.CutPrefix(sc.Text(), "skein ready: "); ok {
			go func() { _, _ = io.Copy(io.Discard, pr) }()
			return uri, done
		}
	}
	t.Fatalf("serve exited before it was ready: %d", <-done)
	return "", nil
}

// stopServe sends this process the SIGTERM that serve waits for (its
// handler is installed before it prints ready) and waits for it to exit 0.
func stopServe(t *testing.T, done <-chan int) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited with %d", code)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop within 60s of SIGTERM")
	}
}

// profileStrings is the set of strings in a pprof file's string table
// (and any other string field): the sample types, function and file names.
func profileStrings(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s is not gzipped: %v", path, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	// Profile.string_table is field 6, length-delimited: tag byte 0x32.
	out := map[string]bool{}
	for i := 0; i < len(raw); {
		tag, n := binary.Uvarint(raw[i:])
		if n <= 0 {
			t.Fatalf("%s: bad protobuf at %d", path, i)
		}
		i += n
		switch tag & 7 {
		case 0:
			_, n = binary.Uvarint(raw[i:])
			i += n
		case 2:
			l, n := binary.Uvarint(raw[i:])
			i += n
			if tag>>3 == 6 {
				out[string(raw[i:i+int(l)])] = true
			}
			i += int(l)
		default:
			t.Fatalf("%s: wire type %d at %d", path, tag&7, i)
		}
	}
	return out
}
