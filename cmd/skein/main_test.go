package main

import (
	"bytes"
	"flag"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/skeindb/skein/coordinator"
	"github.com/skeindb/skein/internal/users"
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

func TestHashPassword(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"hash-password"}, strings.NewReader("pass word\n"), &out, &errOut); code != 0 {
		t.Fatalf("hash-password: %d %s", code, errOut.String())
	}
	s, err := users.Parse(strings.NewReader("ann:reader:" + out.String()))
	if err != nil {
		t.Fatal(err)
	}
	if role, ok := s.Check("ann", "pass word"); !ok || role != users.Reader {
		t.Fatalf("the printed hash does not check: %v %v", role, ok)
	}
	if code := run([]string{"hash-password"}, strings.NewReader("\n"), &out, &errOut); code != 1 {
		t.Fatalf("empty password hashed: %d", code)
	}
}

// A password on the command line is visible in ps: the server says so; one
// from the environment or a file is not.
func TestPasswordOnCommandLineWarns(t *testing.T) {
	args := []string{"serve", "--data-dir", t.TempDir(), "--addr", "no-port", "--user", "ann"}
	var out, errOut bytes.Buffer
	if code := run(append(args, "--password", "pw"), nil, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "--password-file") {
		t.Fatalf("%d %q", code, errOut.String())
	}
	errOut.Reset()
	t.Setenv("SKEIN_PASSWORD", "pw")
	if code := run(args, nil, &out, &errOut); code != 1 || strings.Contains(errOut.String(), "visible") {
		t.Fatalf("%d %q", code, errOut.String())
	}
}

// --explain prints why a query stays on the coordinator, and a split
// query's plan as JSON.
func TestPrintExplain(t *testing.T) {
	for meta, want := range map[string]string{
		``: "mode: local (runs whole on the coordinator)\n",
		`{"mode":"local","reason":"runs local: volatile function random"}`: "mode: local (runs whole on the coordinator)\nreason: runs local: volatile function random\n",
		`{"query_id":"q"}`:                           "mode: local (runs whole on the coordinator)\n",
		`{"query_id":"q","mode":"stages","tasks":3}`: "{\n  \"mode\": \"stages\",\n  \"query_id\": \"q\",\n  \"tasks\": 3\n}\n",
	} {
		var out strings.Builder
		if err := printExplain(&out, &flight.FlightInfo{AppMetadata: []byte(meta)}); err != nil || out.String() != want {
			t.Errorf("%s: printed %q (%v), want %q", meta, out.String(), err, want)
		}
	}
}

func TestObjectStoreFlags(t *testing.T) {
	// The same flags on every command that runs DuckDB (the Kubernetes
	// manifests pass them to each).
	for _, cmd := range []string{"serve", "coordinator", "executor"} {
		var out, errOut bytes.Buffer
		if code := run([]string{cmd, "-h"}, nil, &out, &errOut); code != 0 {
			t.Fatalf("%s -h: %d", cmd, code)
		}
		for _, f := range []string{"-s3-endpoint", "-s3-region", "-s3-url-style", "-s3-use-ssl", "-allow-prefix", "-extension-dir"} {
			if !strings.Contains(errOut.String(), "  "+f+" ") && !strings.Contains(errOut.String(), "  "+f+"\n") {
				t.Errorf("skein %s has no %s", cmd, f)
			}
		}
	}
	// SKEIN_ALLOW_PREFIX separates prefixes with commas (s3:// holds a ':').
	t.Setenv("SKEIN_ALLOW_PREFIX", "s3://bkt/data/,s3://other")
	t.Setenv("SKEIN_S3_ENDPOINT", "minio:9000")
	t.Setenv("SKEIN_S3_USE_SSL", "false")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var cfg coordinator.Config
	cfg.RegisterFlags(fs)
	if err := parseFlags(fs, nil); err != nil {
		t.Fatal(err)
	}
	o := cfg.ObjectStore
	if got := strings.Join(o.Prefixes.URLs(), " "); got != "s3://bkt/data/ s3://other/" || o.Endpoint != "minio:9000" || o.UseSSL || o.Style() != "path" {
		t.Fatalf("object storage config: %s %+v", got, o)
	}
	// Configured, without the extension: a clear refusal to start.
	var out, errOut bytes.Buffer
	if code := run([]string{"serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--executors", "0",
		"--extension-dir", t.TempDir()}, nil, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "httpfs") {
		t.Fatalf("serve without the extension: %d %q", code, errOut.String())
	}
}
