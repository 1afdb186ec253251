package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"

	"github.com/rs/zerolog"
)

// profileFlag registers --profile-dir (SKEIN_PROFILE_DIR) on fs.
func profileFlag(fs *flag.FlagSet) *string {
	return fs.String("profile-dir", "", "write Go profiles of this process to the directory: CMD-PID.cpu.pprof (CPU, from start to the shutdown signal) and CMD-PID.alloc.pprof (allocations since start and the heap in use, at the signal), for go tool pprof; time in DuckDB shows as runtime.cgocall and runtime._ExternalCode (empty: none)")
}

// profiler writes a process's CPU and allocation profiles to files: an
// operator's opt-in (--profile-dir) that opens no listener, for the
// benchmark harness and for a look at where a server's time goes.
type profiler struct {
	cpuPath, allocPath string
	cpu                *os.File
}

// startProfile starts the CPU profile of the process into dir, named after
// the command (serve, coordinator, executor) and the pid, so that
// processes sharing a directory do not overwrite each other's. An empty
// dir profiles nothing (a nil profiler, whose stop does nothing).
func startProfile(dir, cmd string) (*profiler, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--profile-dir: %w", err)
	}
	base := filepath.Join(dir, fmt.Sprintf("%s-%d", cmd, os.Getpid()))
	p := &profiler{cpuPath: base + ".cpu.pprof", allocPath: base + ".alloc.pprof"}
	f, err := os.Create(p.cpuPath)
	if err != nil {
		return nil, fmt.Errorf("--profile-dir: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("--profile-dir: cpu profile: %w", err)
	}
	p.cpu = f
	return p, nil
}

// stop ends the CPU profile and writes the allocation profile (after a
// collection, so that its heap in use is current). It is called at the
// shutdown signal, before the drain: the profiles are of the serving, and
// the heap is the one that served.
func (p *profiler) stop() error {
	if p == nil || p.cpu == nil {
		return nil
	}
	pprof.StopCPUProfile()
	err := p.cpu.Close()
	p.cpu = nil
	runtime.GC()
	f, ferr := os.Create(p.allocPath)
	if ferr != nil {
		return errors.Join(err, fmt.Errorf("--profile-dir: %w", ferr))
	}
	err = errors.Join(err, pprof.Lookup("allocs").WriteTo(f, 0), f.Close())
	if err != nil {
		return fmt.Errorf("--profile-dir: %w", err)
	}
	return nil
}

// finish stops the profiles and logs what failed: a profile lost is no
// reason to stop serving or to fail a shutdown.
func (p *profiler) finish(log zerolog.Logger) {
	if err := p.stop(); err != nil {
		log.Error().Err(err).Msg("profile")
	}
}
