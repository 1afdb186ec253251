package main

import (
	"bytes"
	"flag"
	"strings"
	"testing"

	"github.com/skeindb/skein/coordinator"
)

func TestFlagsReadEnvironment(t *testing.T) {
	t.Setenv("SKEIN_DATA_DIR", "/from/env")
	t.Setenv("SKEIN_USER", "env-user")
	t.Setenv("SKEIN_ALLOW_DIR", "/a:/b")
	t.Setenv("SKEIN_THREADS", "3")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var cfg coordinator.Config
	cfg.RegisterFlags(fs)
	if err := parseFlags(fs, []string{"--user", "flag-user"}); err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/from/env" || cfg.User != "flag-user" || cfg.Threads != 3 ||
		strings.Join(cfg.AllowDirs, ",") != "/a,/b" {
		t.Fatalf("config %+v", cfg)
	}
	t.Setenv("SKEIN_THREADS", "many")
	fs = flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := parseFlags(fs, nil); err == nil || !strings.Contains(err.Error(), "SKEIN_THREADS") {
		t.Fatalf("bad environment value accepted: %v", err)
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, nil, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "skein ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	if code := run([]string{"fly"}, nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "unknown command") {
		t.Fatalf("unknown command: %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"serve", "--addr", "0.0.0.0:0", "--data-dir", t.TempDir()}, nil, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "without auth") {
		t.Fatalf("non-loopback without auth: %d %q", code, errOut.String())
	}
}
