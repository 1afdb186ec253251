package main

import (
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
	const gib = 1 << 30
	machine := int64(24 * gib)
	for _, c := range []struct {
		value string
		p     processMemory
		want  int64
	}{
		// Auto: DuckDB's databases, spools and 2 GiB; at most 90% of the machine.
		{"auto", processMemory{duckLimit: "1GiB", databases: 2}, 4 * gib},
		{"", processMemory{duckLimit: "2GiB", databases: 1, spools: 256 << 20}, 4*gib + 256<<20},
		{"auto", processMemory{duckLimit: "20GiB", databases: 2}, machine / 10 * 9},
		{"auto", processMemory{}, machine / 10 * 9},
		{"auto", processMemory{duckLimit: "80%"}, machine / 10 * 9}, // DuckDB will say what is wrong
		{"Auto", processMemory{duckLimit: "1GiB", databases: 2}, 4 * gib},
		// Given: as given, whatever the machine.
		{"30GiB", processMemory{duckLimit: "1GiB"}, 30 * gib},
		{"1500MB", processMemory{}, 15e8},
		{"0", processMemory{duckLimit: "1GiB"}, 0},
		{"off", processMemory{}, 0},
	} {
		got, err := c.p.limit(c.value, machine)
		if err != nil || got != c.want {
			t.Errorf("%q with %+v: %d, %v; want %d", c.value, c.p, got, err, c.want)
		}
	}
	// Unknown machine: auto sets a limit only from --memory-limit.
	if got, _ := (processMemory{}).limit("auto", 0); got != 0 {
		t.Errorf("auto on an unknown machine without --memory-limit: %d, want none", got)
	}
	for _, v := range []string{"512MB", "1000", "lots"} {
		if _, err := (processMemory{}).limit(v, machine); err == nil || !strings.Contains(err.Error(), "--process-memory-limit") {
			t.Errorf("%q: %v, want an error naming the flag", v, err)
		}
	}
}
