package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/skeindb/skein/executor"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
)

type dirList []string

func (d *dirList) String() string     { return fmt.Sprint([]string(*d)) }
func (d *dirList) Set(v string) error { *d = append(*d, v); return nil }

func executorCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("skein executor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg executor.Config
	var dirs dirList
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:0", "address to listen on (port 0 picks a free port)")
	fs.StringVar(&cfg.Advertise, "advertise", "", "URI handed to clients (default: grpc://ADDR as listening)")
	fs.StringVar(&cfg.Coordinator, "coordinator", "", "coordinator URI, grpc://HOST:PORT")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", "", "address of the HTTP listener for Prometheus /metrics, e.g. 0.0.0.0:31338 (empty: none; port 0 picks a free port)")
	secretFile := fs.String("cluster-secret-file", "", "file holding the secret shared with the coordinator")
	fs.Var(&dirs, "allow-dir", "a directory whose files SQL may read (repeatable)")
	fs.IntVar(&cfg.Threads, "threads", 0, "DuckDB worker threads (0: one per core)")
	fs.StringVar(&cfg.MemoryLimit, "memory-limit", "", "DuckDB memory limit, e.g. 4GB")
	fs.Int64Var(&cfg.MaxEditCells, "max-edit-distance-cells", duck.DefaultMaxEditCells, "largest product of two strings' lengths in bytes that levenshtein, editdist3 and damerau_levenshtein take: the coordinator's --max-edit-distance-cells (-1: no bound)")
	fs.StringVar(&cfg.TimeZone, "timezone", "", "time zone of TIMESTAMPTZ computations: the coordinator's --timezone (empty: the machine's, which must then be the coordinator's)")
	fs.StringVar(&cfg.TLS.Cert, "tls-cert", "", "TLS certificate file (PEM); serves and advertises grpc+tls")
	fs.StringVar(&cfg.TLS.Key, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&cfg.TLS.ClientCA, "tls-client-ca", "", "CA bundle that client certificates must chain to (mTLS)")
	fs.StringVar(&cfg.TLS.CA, "cluster-ca", "", "CA bundle trusted for the coordinator's TLS certificate (besides the system roots)")
	fs.StringVar(&cfg.SpoolDir, "spool-dir", "", "directory for results of started tasks waiting to be fetched, beyond --spool-memory-mb (default: a new temporary directory)")
	spoolMB := fs.Int64("spool-memory-mb", executor.DefaultSpoolMemory>>20, "MiB of started tasks' results held in memory before spilling to --spool-dir")
	spoolGB := fs.Int64("spool-disk-gb", 16, "GiB of started tasks' results held on disk; beyond it tasks wait for their readers")
	cfg.ObjectStore.RegisterFlags(fs)
	grace := fs.Duration("shutdown-grace", 30*time.Second, "on SIGTERM, how long the executor may drain: it takes no new tasks, finishes those it has and waits for their results to be read, then deregisters and exits (a second signal stops it at once)")
	fs.DurationVar(&cfg.ClientPing, "client-ping", cluster.DefaultClientPing, "ping a connection silent this long (a direct-mode client reading a result), and close it if the ping goes unanswered as long again: a stopped or frozen client then no longer holds its stream and the spooled result (0: never ping)")
	fs.IntVar(&cfg.MaxConns, "max-connections", 0, "most connections open at once (the coordinator's, other executors', direct-mode clients'), so that no client's idle connections take the process's descriptors or memory: one past it takes the place of a connection that has made no call with the cluster's credential or a valid ticket (one with no call in progress, of the address holding the most), or, if every open one has, is closed as it is accepted (0: a quarter of the open-file limit, ulimit -n, at most 2048; -1: no bound)")
	fs.DurationVar(&cfg.KillTimeout, "task-kill-timeout", executor.DefaultKillTimeout, "how long a task may run on after it was stopped (its query cancelled or timed out) before the executor counts it stuck in a DuckDB call that checks for no interrupt: it then drains within --shutdown-grace and exits with status 3, for its supervisor to start it again with its cores free (0: never)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	profileDir := profileFlag(fs)
	procMem := processMemoryFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "skein executor:", err)
		return 2
	}
	cfg.AllowDirs = dirs
	cfg.ObjectStore.LoadEnv(os.Getenv)
	if err := cfg.ObjectStore.Validate(); err != nil {
		fmt.Fprintln(stderr, "skein executor:", err)
		return 2
	}
	if cfg.Threads < 0 || *grace < 0 {
		fmt.Fprintln(stderr, "skein executor: --threads and --shutdown-grace may not be negative (--threads 0: one per core)")
		return 2
	}
	if *spoolMB <= 0 || *spoolGB <= 0 {
		fmt.Fprintln(stderr, "skein executor: --spool-memory-mb and --spool-disk-gb must be positive")
		return 2
	}
	cfg.SpoolMemory, cfg.SpoolDisk = *spoolMB<<20, *spoolGB<<30
	if cfg.Coordinator == "" || *secretFile == "" {
		fmt.Fprintln(stderr, "skein executor: --coordinator and --cluster-secret-file are required")
		return 2
	}
	log, err := newLogger(*logLevel, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "skein executor:", err)
		return 2
	}
	if cfg.Secret, err = cluster.ReadSecret(*secretFile); err != nil {
		fmt.Fprintln(stderr, "skein executor:", err)
		return 1
	}
	setGoMemLimit(cfg.SpoolMemory, log)
	if err := applyProcessMemory(*procMem, cmp.Or(cfg.Threads, runtime.NumCPU()), log); err != nil {
		fmt.Fprintln(stderr, "skein executor:", err)
		return 2
	}
	prof, err := startProfile(*profileDir, "executor")
	if err != nil {
		fmt.Fprintln(stderr, "skein executor:", err)
		return 2
	}
	signal.Ignore(syscall.SIGPIPE, syscall.SIGXFSZ) // as skein serve does
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	stuck := make(chan struct{})
	cfg.Stuck = func() { close(stuck) }
	e, err := executor.Start(ctx, cfg, log)
	if err != nil {
		prof.finish(log)
		fmt.Fprintln(stderr, "skein executor:", err)
		return 1
	}
	cfg.ObjectStore.LogTo(log)
	fmt.Fprintf(stdout, "skein ready: %s\n", e.URI())
	code := 0
	select {
	case <-ctx.Done():
		log.Info().Dur("grace", *grace).Msg("signal received: draining")
	case <-stuck:
		// The stuck task's thread cannot be ended, only the process: the
		// others' results are read meanwhile, and its own run never
		// ends, so the drain takes the whole grace.
		code = exitStuck
		log.Error().Dur("grace", *grace).Int("exit_status", code).
			Msg("a task is stuck (--task-kill-timeout): draining, then exiting for a supervisor to start the executor again")
	}
	prof.finish(log)
	stop()
	dctx, cancel := graceContext(*grace)
	defer cancel()
	e.Drain(dctx)
	return code
}

// exitStuck is the status an executor exits with after a stuck task
// (--task-kill-timeout).
const exitStuck = 3
