// Command skein is Skein's one binary: serve | sql | version.
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
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/skeindb/skein/coordinator"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `skein: a distributed SQL engine serving Arrow Flight SQL over DuckDB.

Usage:
  skein serve [flags]            run a coordinator and --executors N executors in one process
  skein coordinator [flags]      run a coordinator for separate executors (--cluster-secret-file)
  skein executor [flags]         run an executor (--coordinator URI --cluster-secret-file F)
  skein sql --uri URI [flags] SQL  run SQL against a server (if not given: SQL from stdin, or a shell on a terminal)
  skein hash-password            read a password from stdin, print its bcrypt hash (for --users-file)
  skein version                  print the version

Run "skein <command> -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve("serve", args[1:], stdout, stderr)
	case "coordinator":
		return serve("coordinator", args[1:], stdout, stderr)
	case "executor":
		return executorCmd(args[1:], stdout, stderr)
	case "sql":
		return sqlCmd(args[1:], stdin, stdout, stderr)
	case "hash-password":
		return hashPasswordCmd(args[1:], stdin, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "skein %s\n", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "skein: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// parseFlags parses args, then fills every flag not given on the command
// line from its SKEIN_<FLAG> environment variable (--data-dir reads
// SKEIN_DATA_DIR).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		env := "SKEIN_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := os.LookupEnv(env)
		if !ok {
			return
		}
		// A repeatable flag takes a list separated by the OS path
		// separator, or by the one the flag names (s3:// holds a ':').
		parts := []string{v}
		if _, repeatable := f.Value.(interface{ Set(string) error }); repeatable && strings.Contains(f.Usage, "repeatable") {
			sep := string(os.PathListSeparator)
			if l, ok := f.Value.(interface{ ListSeparator() string }); ok {
				sep = l.ListSeparator()
			}
			parts = strings.Split(v, sep)
		}
		for _, p := range parts {
			if e := f.Value.Set(p); e != nil {
				err = fmt.Errorf("%s=%q: %w", env, v, e)
				return
			}
		}
	})
	return err
}

// graceContext ends after the shutdown grace, or at a second SIGTERM or
// SIGINT (which cuts a drain short: the process then stops at once).
func graceContext(grace time.Duration) (context.Context, context.CancelFunc) {
	if grace <= 0 {
		grace = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	sctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	return sctx, func() {
		stop()
		cancel()
	}
}

func newLogger(level string, w io.Writer) (zerolog.Logger, error) {
	// The project's fixed log keys: errors go under "err".
	zerolog.ErrorFieldName = "err"
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("--log-level %q: %w", level, err)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

func serve(cmd string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("skein "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg coordinator.Config
	cfg.RegisterFlags(fs)
	if cmd == "serve" {
		fs.IntVar(&cfg.Executors, "executors", 2, "executors to run in this process, each with its own DuckDB")
		fs.StringVar(&cfg.InProcessPlan, "in-process-plan", coordinator.PlanLocal, "how queries are planned while every live executor runs in this process: local: whole on the coordinator's DuckDB with all its threads (the executors share its cores, so splitting only adds exchanges); distribute: split across the executors as on a cluster of processes")
	}
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	profileDir := profileFlag(fs)
	procMem := processMemoryFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "skein "+cmd+":", err)
		return 2
	}
	log, err := newLogger(*logLevel, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "skein "+cmd+":", err)
		return 2
	}
	threads := cmp.Or(cfg.Threads, runtime.NumCPU())
	if cmd == "serve" {
		threads *= 1 + cfg.Executors
	}
	if err := applyProcessMemory(*procMem, threads, log); err != nil {
		fmt.Fprintln(stderr, "skein "+cmd+":", err)
		return 2
	}
	cfg.Version = version
	cfg.ObjectStore.LoadEnv(os.Getenv)
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "password" {
			log.Warn().Msg("--password on the command line is visible to every user of this machine (ps): use --password-file or SKEIN_PASSWORD")
		}
	})
	if cmd == "coordinator" && cfg.ClusterSecretFile == "" {
		fmt.Fprintln(stderr, "skein coordinator: --cluster-secret-file is required")
		return 2
	}
	prof, err := startProfile(*profileDir, cmd)
	if err != nil {
		fmt.Fprintln(stderr, "skein "+cmd+":", err)
		return 2
	}
	// A supervisor that closes our pipes on SIGTERM must not kill the
	// shutdown (and its checkpoint) with SIGPIPE; a file size limit
	// (ulimit -f) reached is a failed write (EFBIG), which DuckDB reports,
	// not a silent death by SIGXFSZ.
	signal.Ignore(syscall.SIGPIPE, syscall.SIGXFSZ)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	c, err := coordinator.Start(ctx, cfg, log)
	if err != nil {
		prof.finish(log)
		log.Error().Err(err).Msg("cannot start")
		fmt.Fprintln(stderr, "skein "+cmd+":", err)
		return 1
	}
	fmt.Fprintf(stdout, "skein ready: %s\n", c.URI())
	select {
	case <-ctx.Done():
		prof.finish(log)
		log.Info().Dur("grace", cfg.ShutdownGrace).Msg("signal received: draining, then shutting down")
		stop()
		dctx, cancel := graceContext(cfg.ShutdownGrace)
		c.Drain(dctx)
		cancel()
	case err := <-c.Done():
		prof.finish(log)
		log.Error().Err(err).Msg("server stopped")
	case <-c.Invalidated():
		// Every statement fails until a new process opens the database:
		// health says so (a liveness probe restarts it), and the exit
		// lets any supervisor restart it, a probe or not.
		prof.finish(log)
		stop()
		time.Sleep(invalidLinger)
		log.Error().Int("exit_status", exitInvalidated).Msg("the database was invalidated: exiting for a supervisor to start the process again")
		shutdown(c, invalidLinger, log)
		return exitInvalidated
	}
	return shutdown(c, cfg.ShutdownGrace, log)
}

// exitInvalidated is the status the process exits with once its database
// was invalidated, after invalidLinger (its health NOT_SERVING meanwhile,
// for probes and clients to see) and a shutdown of as long at most.
const (
	exitInvalidated = 4
	invalidLinger   = 5 * time.Second
)

// stuckAfter is how long a shutdown may run past its grace: closing the
// sessions waits for each one's running statement, and a statement DuckDB
// is still planning does not see an interrupt.
const stuckAfter = 10 * time.Second

// shutdown stops the coordinator; if that has not ended within its grace
// and stuckAfter more, or at a second SIGTERM or SIGINT, the process
// exits without waiting for it: its database lock goes with the process,
// and DuckDB replays the write-ahead log of every committed transaction
// at the next start.
func shutdown(c *coordinator.Coordinator, grace time.Duration, log zerolog.Logger) int {
	if grace <= 0 {
		grace = 30 * time.Second
	}
	done := make(chan error, 1)
	go func() { done <- c.Shutdown() }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	timer := time.NewTimer(grace + stuckAfter)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			log.Error().Err(err).Msg("shutdown")
			return 1
		}
		return 0
	case <-sig:
		log.Error().Msg("second signal: exiting without finishing the shutdown (the write-ahead log is replayed at the next start)")
	case <-timer.C:
		log.Error().Dur("waited", grace+stuckAfter).Msg("shutdown stuck (a statement DuckDB is still planning?): exiting without finishing it (the write-ahead log is replayed at the next start)")
	}
	return 1
}
