package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseMemory(t *testing.T) {
	for in, want := range map[string]int64{
		"8GB": 8e9, "8 GiB": 8 << 30, "1.5gb": 15e8, "512MiB": 512 << 20, "4 G": 4e9, "1gigabyte": 1e9,
		"2 megabytes": 2e6, "3KB": 3000, "1TiB": 1 << 40, "100b": 100,
	} {
		if got, err := parseMemory(in); err != nil || got != want {
			t.Errorf("parseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"": "not a size", "GB": "not a size", "1000": "no unit", "80%": "unknown unit", "1.2.3GB": "not a size",
		"99999999999999999TB": "too large",
	} {
		if _, err := parseMemory(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("parseMemory(%q): %v, want an error saying %q", in, err, msg)
		}
	}
}

func TestProcessMemoryLimit(t *testing.T) {
	const machine = 24 << 30
	for value, want := range map[string]int64{
		"auto": machine, "": machine, "Auto": machine, // the machine's
		"30GiB": 30 << 30, "1500MB": 15e8, // as given, whatever the machine
		"0": 0, "off": 0,
	} {
		if got, _, err := processMemoryLimit(value, machine); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", value, got, err, want)
		}
	}
	if got, auto, _ := processMemoryLimit("auto", 0); got != 0 || !auto {
		t.Errorf("auto on an unknown machine: %d, want none", got)
	}
	for _, v := range []string{"512MB", "1000", "lots"} {
		if _, _, err := processMemoryLimit(v, machine); err == nil || !strings.Contains(err.Error(), "--process-memory-limit") {
			t.Errorf("%q: %v, want an error naming the flag", v, err)
		}
	}
}

// More DuckDB threads than the process memory limit holds the stacks of
// are refused before anything starts, naming --threads: a thread DuckDB
// could not start ended the process with SIGSEGV (--threads 2000 under
// the automatic limit of 24 GiB; a tester's).
func TestThreadsFitTheProcessMemoryLimit(t *testing.T) {
	const stack, limit = 8 << 20, 24 << 30
	if err := threadsFit(1000, stack, limit); err != nil {
		t.Errorf("1000 threads under 24 GiB: %v", err)
	}
	if err := threadsFit(2000, stack, limit); err == nil || !strings.Contains(err.Error(), "--threads") {
		t.Errorf("2000 threads under 24 GiB: %v, want an error naming --threads", err)
	}
	if err := threadsFit(2000, 0, limit); err != nil {
		t.Errorf("an unlimited stack: %v", err)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"coordinator", "--data-dir", t.TempDir(), "--threads", "200", "--process-memory-limit", "2GB"}, nil, &out, &errOut)
	if threadStack() > 0 && (code != 2 || !strings.Contains(errOut.String(), "--threads")) {
		t.Errorf("200 threads under 2 GB: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"serve", "--data-dir", t.TempDir(), "--threads", "-1", "--process-memory-limit", "0"}, nil, &out, &errOut); code == 0 ||
		!strings.Contains(errOut.String(), "--threads may not be negative") {
		t.Errorf("--threads -1: exit %d, %q", code, errOut.String())
	}
}
