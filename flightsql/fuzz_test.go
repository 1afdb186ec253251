package flightsql_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// FuzzCommands sends arbitrary bytes as Flight SQL commands, tickets and
// action bodies, raw and wrapped in each command's Any type URL, to a real
// server: every answer must be a deliberate status, never Internal or a
// crash, and the server must keep serving.
func FuzzCommands(f *testing.F) {
	ts := startServer(f)
	for _, seed := range [][]byte{nil, {0}, {1, 2, 3}, []byte("SELECT 1"), []byte("a/b"), []byte("eyJrIjoidGlja2V0In0.AAAA")} {
		f.Add(seed)
	}
	q, _ := flightsql.CreateStatementQueryTicket([]byte("x.y"))
	f.Add(q)
	// An endpoint without a ticket, to cancel: it panicked (a nil
	// ticket's dereference in arrow-go), as a renewal's empty body did.
	noTicket, _ := proto.Marshal(&pb.CancelFlightInfoRequest{Info: &pb.FlightInfo{Endpoint: []*pb.FlightEndpoint{{}}}})
	f.Add(noTicket)
	types := []string{
		"CommandStatementQuery", "CommandStatementUpdate", "CommandPreparedStatementQuery",
		"CommandPreparedStatementUpdate", "CommandGetTables", "CommandGetDbSchemas", "CommandGetPrimaryKeys",
		"CommandGetCrossReference", "CommandGetXdbcTypeInfo", "CommandGetSqlInfo", "TicketStatementQuery",
		"CommandStatementIngest", "ActionCreatePreparedStatementRequest", "ActionClosePreparedStatementRequest",
		"ActionEndTransactionRequest",
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := ts.client(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		payloads := [][]byte{data}
		for _, typ := range types {
			b, err := proto.Marshal(&anypb.Any{TypeUrl: "type.googleapis.com/arrow.flight.protocol.sql." + typ, Value: data})
			if err != nil {
				t.Fatal(err)
			}
			payloads = append(payloads, b)
		}
		for _, p := range payloads {
			_, err := c.Client.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: p})
			checkDeliberate(t, err)
			if s, err := c.Client.DoGet(ctx, &flight.Ticket{Ticket: p}); err == nil {
				// Read to its end: a stream left unread fails the server's
				// next write when the input's context ends, and arrow-go's
				// Flight SQL DoGet (v18.8.0) then returns without releasing
				// the record it was writing, which the checked allocator
				// reported as a leak under load.
				for err == nil {
					_, err = s.Recv()
				}
				if err != io.EOF {
					checkDeliberate(t, err)
				}
			}
			for _, action := range []string{flightsql.CreatePreparedStatementActionType, flightsql.ClosePreparedStatementActionType, flightsql.EndTransactionActionType, flight.CancelFlightInfoActionType, flight.RenewFlightEndpointActionType} {
				if s, err := c.Client.DoAction(ctx, &flight.Action{Type: action, Body: p}); err == nil {
					_, err = s.Recv()
					checkDeliberate(t, err)
				}
			}
		}
		// Still serving.
		_, err := c.Execute(ctx, "SELECT 1")
		if err != nil {
			t.Fatalf("server stopped answering: %v", err)
		}
		// Each input gets a fresh session and gives it back, or a long run
		// meets the server's --max-sessions (512) and fails on no input.
		if _, err := c.CloseSession(ctx, &flight.CloseSessionRequest{}); err != nil {
			t.Fatalf("close session: %v", err)
		}
	})
}

func checkDeliberate(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	switch status.Code(err) {
	case codes.Internal, codes.Unknown, codes.Unavailable:
		t.Fatalf("undeliberate answer: %v", err)
	}
}
