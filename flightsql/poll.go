package flightsql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Progress is how far a distributed query has come, as PollFlightInfo
// reports it.
type Progress struct {
	Tasks, Done int   // its tasks, every stage's, and those finished
	Rows, Bytes int64 // what the finished tasks of its last stage produced
	// Ready are the endpoints (indexes into its FlightInfo's) whose tasks
	// have finished, in the order they did.
	Ready []int
	// Expires is its endpoints' expiration time (the poll renewed it).
	Expires time.Time
	// Err says why it ended without an answer (failed, cancelled).
	Err error
}

// Complete reports whether every task has finished.
func (p Progress) Complete() bool { return p.Done >= p.Tasks }

// polls are the queries planned by PollFlightInfo and not yet complete:
// their FlightInfo as issued, answered again with the endpoints ready.
type polls struct {
	mu   sync.Mutex
	byID map[string]*polled
}

type polled struct {
	info    *flight.FlightInfo
	user    string
	expires time.Time // forgotten then: its tickets have expired
}

// pollClaims are what a poll's retry descriptor carries.
type pollClaims struct {
	Query string `json:"q"`
	User  string `json:"u"`
}

const pollKind = "poll"

// pollPrefix starts a retry descriptor's command: no Flight SQL command
// parses as it, so arrow-go's routing hands it to PollFlightInfo.
var pollPrefix = []byte("skein.poll:")

// PollFlightInfoStatement plans a query as GetFlightInfo does and answers
// with how far it has come: the tasks of a distributed query start now.
func (s *Server) PollFlightInfoStatement(ctx context.Context, cmd flightsql.StatementQuery, desc *flight.FlightDescriptor) (*flight.PollInfo, error) {
	info, err := s.GetFlightInfoStatement(ctx, cmd, desc)
	if err != nil {
		return nil, err
	}
	return s.startPoll(ctx, info)
}

// PollFlightInfoPreparedStatement is PollFlightInfoStatement for a
// prepared statement.
func (s *Server) PollFlightInfoPreparedStatement(ctx context.Context, cmd flightsql.PreparedStatementQuery, desc *flight.FlightDescriptor) (*flight.PollInfo, error) {
	info, err := s.GetFlightInfoPreparedStatement(ctx, cmd, desc)
	if err != nil {
		return nil, err
	}
	return s.startPoll(ctx, info)
}

// startPoll answers the first PollFlightInfo of a query. One that runs
// here (when its ticket is redeemed) is complete at once.
func (s *Server) startPoll(ctx context.Context, info *flight.FlightInfo) (*flight.PollInfo, error) {
	var tag struct {
		Query string `json:"query_id"`
	}
	_ = json.Unmarshal(info.GetAppMetadata(), &tag)
	if s.cfg.Cluster == nil || tag.Query == "" {
		return &flight.PollInfo{Info: info, Progress: proto.Float64(1)}, nil
	}
	p, ok := s.cfg.Cluster.Progress(tag.Query)
	if !ok {
		return &flight.PollInfo{Info: info, Progress: proto.Float64(1)}, nil
	}
	pd := &polled{info: info, user: identityFrom(ctx).user, expires: time.Now().Add(s.cfg.TicketTTL)}
	s.polls.mu.Lock()
	now := time.Now()
	for id, old := range s.polls.byID {
		if now.After(old.expires) {
			delete(s.polls.byID, id)
		}
	}
	s.polls.byID[tag.Query] = pd
	s.polls.mu.Unlock()
	return s.pollInfo(tag.Query, pd, p)
}

// PollFlightInfo answers a poll's retry descriptor.
func (s *Server) PollFlightInfo(ctx context.Context, desc *flight.FlightDescriptor) (*flight.PollInfo, error) {
	tok, ok := bytes.CutPrefix(desc.GetCmd(), pollPrefix)
	if !ok || s.cfg.Cluster == nil {
		return nil, fmt.Errorf("%w: PollFlightInfo takes a Flight SQL query command or the descriptor a PollInfo gave", ErrInvalid)
	}
	var c pollClaims
	if err := s.signer.Verify(pollKind, string(tok), &c); err != nil {
		return nil, VerifyError("poll descriptor", err, ErrInvalid)
	}
	if c.User != identityFrom(ctx).user {
		return nil, fmt.Errorf("%w: the query belongs to another user", ErrDenied)
	}
	s.polls.mu.Lock()
	pd := s.polls.byID[c.Query]
	s.polls.mu.Unlock()
	p, ok := s.cfg.Cluster.Progress(c.Query)
	if pd == nil || !ok {
		return nil, fmt.Errorf("%w: query %s is unknown, complete or expired", ErrNotFound, c.Query)
	}
	return s.pollInfo(c.Query, pd, p)
}

// pollInfo is a query's PollInfo: its FlightInfo with the endpoints ready
// (all when complete, an ordered one's only in order), its progress as a
// fraction of tasks and, in the app_metadata, in tasks, rows and bytes;
// with the retry descriptor until it is complete.
func (s *Server) pollInfo(qid string, pd *polled, p Progress) (*flight.PollInfo, error) {
	if p.Err != nil {
		s.forgetPoll(qid)
		return nil, fmt.Errorf("query %s: %w", qid, p.Err)
	}
	info := proto.Clone(pd.info).(*flight.FlightInfo)
	info.Endpoint = readyEndpoints(info, p)
	expires := timestamppb.New(p.Expires)
	for _, ep := range info.Endpoint {
		ep.ExpirationTime = expires
	}
	progress, err := json.Marshal(map[string]any{"tasks": p.Tasks, "tasks_done": p.Done, "rows": p.Rows, "bytes": p.Bytes})
	if err != nil {
		return nil, err
	}
	info.AppMetadata = withField(info.AppMetadata, "progress", progress)
	out := &flight.PollInfo{Info: info, Progress: proto.Float64(1), ExpirationTime: expires}
	if p.Complete() {
		s.forgetPoll(qid)
		return out, nil
	}
	*out.Progress = float64(p.Done) / float64(max(p.Tasks, 1))
	tok, err := s.signer.Sign(pollKind, pollClaims{Query: qid, User: pd.user}, pd.expires)
	if err != nil {
		return nil, err
	}
	out.FlightDescriptor = &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: append(slices.Clone(pollPrefix), tok...)}
	return out, nil
}

// readyEndpoints are the endpoints of info whose tasks have finished, in
// the order they did (an ordered one's only as a prefix, which keeps their
// order), and then, once all have, any others: each PollInfo only appends.
func readyEndpoints(info *flight.FlightInfo, p Progress) []*flight.FlightEndpoint {
	ready := p.Ready
	if info.Ordered {
		sorted := slices.Sorted(slices.Values(ready))
		n := 0
		for n < len(sorted) && sorted[n] == n {
			n++
		}
		ready = sorted[:n]
	}
	listed := make([]bool, len(info.Endpoint))
	eps := make([]*flight.FlightEndpoint, 0, len(info.Endpoint))
	for _, i := range ready {
		if i >= 0 && i < len(listed) && !listed[i] {
			listed[i] = true
			eps = append(eps, info.Endpoint[i])
		}
	}
	if p.Complete() {
		for i, ep := range info.Endpoint {
			if !listed[i] {
				eps = append(eps, ep)
			}
		}
	}
	return eps
}

// polledEndpoints are the endpoints issued for the query info's
// app_metadata names, if user polls it (its FlightInfo as issued, not
// the client's copy).
func (s *Server) polledEndpoints(info *flight.FlightInfo, user string) []*flight.FlightEndpoint {
	var tag struct {
		Query string `json:"query_id"`
	}
	if json.Unmarshal(info.GetAppMetadata(), &tag) != nil || tag.Query == "" {
		return nil
	}
	s.polls.mu.Lock()
	defer s.polls.mu.Unlock()
	if pd := s.polls.byID[tag.Query]; pd != nil && pd.user == user {
		return pd.info.GetEndpoint()
	}
	return nil
}

func (s *Server) forgetPoll(qid string) {
	s.polls.mu.Lock()
	delete(s.polls.byID, qid)
	s.polls.mu.Unlock()
}

// statementTicket is arrow-go's GetStatementQueryTicket, which
// dereferences a nil ticket (an endpoint sent without one): a
// RenewFlightEndpoint or CancelFlightInfo so made panicked.
func statementTicket(t *flight.Ticket) (flightsql.StatementQueryTicket, error) {
	if t == nil {
		return nil, errors.New("the endpoint has no ticket")
	}
	return flightsql.GetStatementQueryTicket(t)
}

// RenewFlightEndpoint extends an endpoint's expiration: a distributed
// query's endpoints expire when its client shows no sign of wanting them
// (see --endpoint-expiry), up to their tickets' own expiry. A query run
// here waits for its ticket as long as the ticket lives: its endpoint is
// given back with that expiration.
func (s *Server) RenewFlightEndpoint(ctx context.Context, req *flight.RenewFlightEndpointRequest) (*flight.FlightEndpoint, error) {
	ep := req.GetEndpoint()
	t, err := statementTicket(ep.GetTicket())
	if err != nil {
		return nil, fmt.Errorf("%w: not a ticket this server issued: %w", ErrInvalid, err)
	}
	user := identityFrom(ctx).user
	out := proto.Clone(ep).(*flight.FlightEndpoint)
	if s.cfg.Cluster != nil {
		expires, ok, err := s.cfg.Cluster.Renew(user, t.GetStatementHandle())
		if err != nil {
			return nil, err
		}
		if ok {
			out.ExpirationTime = timestamppb.New(expires)
			return out, nil
		}
	}
	var c ticketClaims
	if err := s.signer.Verify(ticketKind, string(t.GetStatementHandle()), &c); err != nil {
		return nil, VerifyError("ticket", err, ErrInvalid)
	}
	if c.User != user {
		return nil, fmt.Errorf("%w: the ticket was issued to another user", ErrDenied)
	}
	q := s.queries.get(c.Query)
	if q == nil {
		return nil, fmt.Errorf("%w: query %s is unknown, finished or expired", ErrNotFound, c.Query)
	}
	out.ExpirationTime = timestamppb.New(q.expires)
	return out, nil
}

// withField sets one key of a JSON object (an app_metadata), leaving
// anything that is no object alone.
func withField(meta []byte, key string, value json.RawMessage) []byte {
	return withFields(meta, map[string]json.RawMessage{key: value})
}

// withFields sets keys of a JSON object (an app_metadata), in one decode
// and encode, leaving anything that is no object alone.
func withFields(meta []byte, fields map[string]json.RawMessage) []byte {
	if b, ok := appendFields(meta, fields); ok {
		return b
	}
	obj := fields
	if len(meta) > 0 {
		obj = map[string]json.RawMessage{}
		if json.Unmarshal(meta, &obj) != nil {
			return meta
		}
		maps.Copy(obj, fields)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return meta
	}
	return b
}

// appendFields is withFields for the usual case, an object (or nothing)
// that names none of the keys: the fields are written before its closing
// brace, with no decode into a map and encode of it (13 µs of every
// FlightInfo's tag). ok is false for anything else. The objects are the
// cluster's own (encoding/json writes a key as it is), so a key is found
// by its quoted text.
func appendFields(meta []byte, fields map[string]json.RawMessage) ([]byte, bool) {
	meta = bytes.TrimSpace(meta)
	if len(meta) == 0 {
		meta = []byte("{}")
	}
	if meta[0] != '{' || meta[len(meta)-1] != '}' || !json.Valid(meta) {
		return nil, false
	}
	keys := slices.Sorted(maps.Keys(fields))
	quoted := make([][]byte, len(keys))
	for i, k := range keys {
		q, err := json.Marshal(k)
		if err != nil || !json.Valid(fields[k]) || bytes.Contains(meta, q) {
			return nil, false
		}
		quoted[i] = q
	}
	b := append([]byte(nil), meta[:len(meta)-1]...)
	empty := len(bytes.TrimSpace(b[1:])) == 0
	for i, k := range keys {
		if !empty {
			b = append(b, ',')
		}
		empty = false
		b = append(b, quoted[i]...)
		b = append(b, ':')
		b = append(b, fields[k]...)
	}
	return append(b, '}'), true
}
