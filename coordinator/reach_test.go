package coordinator

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/skeindb/skein/executor"
	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
)

// An executor started with another --allow-dir than the coordinator's
// failed every task that read the coordinator's files, and was never
// excluded (a tester's: 5 of 6 TPC-H queries failed, 4-42 s each, one
// saying only that a partition "is being read 4 times at once"). It is
// refused at registration, told which directories it lacks, and the
// queries run on the executors that may read them. One given a directory
// that holds the coordinator's, named through a link, joins.
func TestExecutorThatCannotReadTheFilesIsRefused(t *testing.T) {
	secretFile, secret := newSecretFile(t)
	root := t.TempDir()
	data := filepath.Join(root, "shared", "tpch")
	other := filepath.Join(root, "other")
	for _, d := range []string{data, other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink(filepath.Join(root, "shared"), link); err != nil {
		t.Fatal(err)
	}
	c := coordinatorForExecutors(t, secretFile, data)
	var said lockedLog
	joinExecutor(t, c, secret, zerolog.New(&said), func(e *executor.Config) { e.AllowDirs = []string{other} })
	good := joinExecutor(t, c, secret, zerolog.Nop(), func(e *executor.Config) { e.AllowDirs = []string{link} })
	eventually(t, 10*time.Second, func() (bool, string) {
		return strings.Contains(said.String(), "may not read "+data), said.String()
	})
	eventually(t, 10*time.Second, func() (bool, string) {
		ready := c.reg.ready()
		return len(ready) == 1 && ready[0].ID == good.ID(), "ready executors: " + memberIDs(ready)
	})
	if ready := c.reg.ready(); len(ready) != 1 {
		t.Fatalf("ready executors: %s", memberIDs(ready))
	}

	// Object storage prefixes alike: a prefix reaches those under it.
	r := newRegistry(secret, time.Minute, "UTC", zerolog.Nop())
	r.needs = executorNeeds(nil, t.TempDir(), []string{"s3://bkt/data/"})
	for reach, ok := range map[string]bool{"s3://bkt/": true, "s3://bkt/data/": true, "s3://bkt/other/": false, "s3://bk/": false} {
		err := r.act(cluster.ActionRegister, cluster.Member{ID: "e", Zone: "UTC", Reach: []string{reach}})
		if ok != (err == nil) || err != nil && !errors.Is(err, flightsql.ErrInvalid) {
			t.Errorf("an executor reaching %s: %v", reach, err)
		}
	}
}

func memberIDs(ms []cluster.Member) string {
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return strings.Join(ids, ", ")
}

// lockedLog is a log the executor's goroutines write while the test reads.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// An executor that does not answer where it advertises is refused at
// registration, saying why: one advertising an address where nothing
// answered was listed live and given tasks that all failed there, and of
// two advertising one address the second's tasks ran at the first (a
// tester's).
func TestExecutorThatDoesNotAnswerWhereItAdvertisesIsRefused(t *testing.T) {
	secretFile, secret := newSecretFile(t)
	c := coordinatorForExecutors(t, secretFile)
	good := joinExecutor(t, c, secret, zerolog.Nop(), nil)
	var nowhere, twice lockedLog
	joinExecutor(t, c, secret, zerolog.New(&nowhere), func(e *executor.Config) { e.Advertise = "grpc://127.0.0.1:1" })
	joinExecutor(t, c, secret, zerolog.New(&twice), func(e *executor.Config) { e.Advertise = good.URI() })
	eventually(t, 10*time.Second, func() (bool, string) {
		return strings.Contains(nowhere.String(), "where the coordinator cannot reach it"), nowhere.String()
	})
	eventually(t, 10*time.Second, func() (bool, string) {
		return strings.Contains(twice.String(), "where executor "+good.ID()+" answers"), twice.String()
	})
	if ready := c.reg.ready(); len(ready) != 1 || ready[0].ID != good.ID() {
		t.Fatalf("ready executors: %s, want %s alone", memberIDs(ready), good.ID())
	}
}

// coordinatorForExecutors starts a coordinator, with no executor of its
// own, for executors of the secret in secretFile (joinExecutor); allow
// are its --allow-dirs.
func coordinatorForExecutors(t *testing.T, secretFile string, allow ...string) *Coordinator {
	t.Helper()
	c, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), ClusterSecretFile: secretFile,
		AllowDirs: allow, ShutdownGrace: 5 * time.Second, HeartbeatTimeout: 3 * time.Second}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	return c
}

// joinExecutor starts an executor of one thread for c, its configuration
// adjusted by adjust (nil: none), logging to log.
func joinExecutor(t *testing.T, c *Coordinator, secret cluster.Secret, log zerolog.Logger, adjust func(*executor.Config)) *executor.Executor {
	t.Helper()
	cfg := executor.Config{Addr: "127.0.0.1:0", Coordinator: c.URI(), Secret: secret, Threads: 1, Heartbeat: 100 * time.Millisecond}
	if adjust != nil {
		adjust(&cfg)
	}
	e, err := executor.Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}
