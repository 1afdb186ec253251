package coordinator

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/partition"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// FuzzClusterActions sends arbitrary bytes as the bodies of the cluster
// actions to a real coordinator and its executor: registration, heartbeat,
// ping, start and unknown actions, and task tickets. The bytes go raw,
// wrapped as Flight SQL tickets, and signed with the cluster secret around
// arbitrary claims (what a holder of the secret, or a bug, could send) or
// around a task whose slice comes from the bytes. Unsigned bytes must be
// refused with a deliberate status; nothing may crash either server or
// stop it serving. (A signed task that the executor cannot run is the
// coordinator's bug, and Internal is its answer.) The registry is also fed
// directly and asked for its executors and an assignment after each action.
func FuzzClusterActions(f *testing.F) {
	// The coordinator reads the secret as text (trimmed): hex, so that both
	// sides hold the same bytes.
	path := filepath.Join(f.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(cluster.NewSecret())), 0o600); err != nil {
		f.Fatal(err)
	}
	c, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", DataDir: f.TempDir(), ClusterSecretFile: path,
		Executors: 1, Threads: 1, ShutdownGrace: time.Second}, zerolog.Nop())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = c.Shutdown() })
	secret, err := cluster.ReadSecret(path)
	if err != nil {
		f.Fatal(err)
	}
	coord, exec := fuzzClient(f, c.URI()), fuzzClient(f, c.executors[0].URI())
	member, err := secret.SignMember(cluster.Member{ID: "fuzz", Location: "grpc://127.0.0.1:1", Threads: 1, Zone: c.reg.zone})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"", string(member), "a.b", "\n\n", "a.b\nc.d", `{"id":"","done":null}`,
		`{"id":"e1","loc":"grpc://127.0.0.1:1","th":-1,"run":-5,"done":[{"q":"q","t":-1,"e":"x","r":-1}]}`,
		`{"q":"q","t":1,"s":"SELECT 1","u":"u","e":"x","sl":{"File":"f","First":0,"Last":-1}}`,
		`{"s":"SELECT $1, $2","sl":{"Files":["a","b","c"]}}`} {
		f.Add([]byte(seed))
	}
	reg := newRegistry(secret, time.Minute, c.reg.zone, zerolog.Nop())
	reg.reports = func([]cluster.TaskReport) {}
	types := []string{cluster.ActionRegister, cluster.ActionHeartbeat, cluster.ActionDrain, cluster.ActionDeregister,
		cluster.ActionPing, cluster.ActionStart, "skein.other"}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, merr := secret.VerifyMember(data)
		_, terr := secret.VerifyTask(data)
		unsigned := merr != nil && terr != nil
		var members, tasks []string
		if json.Valid(data) {
			m, err := secret.Signer("members").Sign(cluster.KindMember, json.RawMessage(data), time.Now().Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			tk, err := secret.Signer("tickets").Sign(cluster.KindTask, json.RawMessage(data), time.Now().Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			members, tasks = append(members, m), append(tasks, tk)
		}
		var n [16]byte
		copy(n[:], data)
		tk, err := secret.SignTask(cluster.Task{Query: "fuzz", Executor: c.executors[0].ID(),
			SQL: "SELECT $1::VARCHAR AS f, $2::BIGINT AS a, $3::BIGINT AS b",
			Slice: partition.Slice{File: string(data), First: int64(binary.LittleEndian.Uint64(n[:8])),
				Last: int64(binary.LittleEndian.Uint64(n[8:])), Files: strings.Split(string(data), "\x00")[1:]}})
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, tk)

		// The coordinator's registry, directly and through Flight.
		for _, body := range append([]string{string(data)}, members...) {
			for _, typ := range types {
				if err := reg.action(typ, []byte(body)); err == nil && unsigned && body == string(data) {
					t.Fatalf("unsigned %s body %q accepted", typ, body)
				}
				_, _ = reg.live(), reg.ready()
				_ = reg.assign(3)
			}
		}
		mctx := metadata.AppendToOutgoingContext(ctx, cluster.MemberHeader, string(member))
		for _, body := range append([]string{string(data)}, members...) {
			for _, typ := range types {
				err := cluster.Do(mctx, coord, &flight.Action{Type: typ, Body: []byte(body)})
				deliberate(t, err)
				if err == nil && unsigned && body == string(data) && typ != cluster.ActionPing {
					t.Fatalf("unsigned %s body %q accepted by the coordinator", typ, body)
				}
			}
		}

		// The executor: actions, then tickets.
		for _, typ := range types {
			err := cluster.Do(ctx, exec, &flight.Action{Type: typ, Body: data})
			deliberate(t, err)
			if err == nil && unsigned && typ != cluster.ActionPing {
				t.Fatalf("unsigned %s body %q accepted by the executor", typ, data)
			}
		}
		cctx, err := secret.WithCall(ctx) // starts are the coordinator's
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range tasks {
			answered(t, cluster.Do(cctx, exec, &flight.Action{Type: cluster.ActionStart, Body: []byte(h)}))
		}
		tickets := [][]byte{data}
		for _, h := range append([]string{string(data)}, tasks...) {
			tk, err := cluster.TaskTicket(h)
			if err != nil {
				t.Fatal(err)
			}
			tickets = append(tickets, tk)
		}
		for i, tk := range tickets {
			err := drain(ctx, exec, tk)
			if i >= 2 {
				answered(t, err)
				continue
			}
			deliberate(t, err)
			if err == nil && unsigned {
				t.Fatalf("unsigned ticket %q redeemed", tk)
			}
		}

		// Both still serve (the member is refused: nothing answers where
		// it advertises).
		if err := cluster.Do(mctx, coord, &flight.Action{Type: cluster.ActionRegister, Body: member}); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("the coordinator stopped answering: %v", err)
		}
		if err := cluster.Do(ctx, exec, &flight.Action{Type: cluster.ActionPing}); err != nil {
			t.Fatalf("the executor stopped answering: %v", err)
		}
	})
}

func fuzzClient(f *testing.F, uri string) flight.Client {
	cl, err := flight.NewClientWithMiddleware(strings.TrimPrefix(uri, "grpc://"), nil, nil,
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = cl.Close() })
	return cl
}

// drain redeems a ticket and reads its stream to the end.
func drain(ctx context.Context, cl flight.Client, ticket []byte) error {
	stream, err := cl.DoGet(ctx, &flight.Ticket{Ticket: ticket})
	if err != nil {
		return err
	}
	for {
		if _, err := stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// deliberate fails on an answer that is no decision: Internal, Unknown or
// Unavailable.
func deliberate(t *testing.T, err error) {
	t.Helper()
	if c := status.Code(err); c == codes.Internal {
		t.Fatalf("undeliberate answer: %v", err)
	}
	answered(t, err)
}

// answered fails on an answer that says the server is gone or broke.
func answered(t *testing.T, err error) {
	t.Helper()
	if c := status.Code(err); c == codes.Unavailable || c == codes.Unknown {
		t.Fatalf("no answer: %v", err)
	}
}
