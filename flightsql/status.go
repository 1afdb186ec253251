package flightsql

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/rs/zerolog"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/token"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors of the front door. Handlers wrap them with %w; ToStatus
// turns them into gRPC codes.
var (
	ErrInvalid         = errors.New("invalid request")
	ErrNotFound        = errors.New("not found")
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrDenied          = errors.New("permission denied")
	ErrBusy            = errors.New("resource exhausted")
	ErrUnimplemented   = errors.New("not implemented")
	ErrUnavailable     = errors.New("unavailable")
)

// VerifyError is the error for a ticket, statement handle or poll
// descriptor that did not verify. One past its expiry names a query
// released since: NotFound, run it again, and not the failed login that
// Unauthenticated would tell the client. Any other wraps otherwise
// (ErrInvalid; ErrUnauthenticated at an executor, where a task ticket is
// the caller's credential).
func VerifyError(what string, err, otherwise error) error {
	if errors.Is(err, token.ErrExpired) {
		return fmt.Errorf("%w: the %s expired: the query it names was released; run the query again", ErrNotFound, what)
	}
	return fmt.Errorf("%w: %s: %w", otherwise, what, err)
}

// ToStatus is the one place where errors become gRPC statuses. DuckDB's
// message is kept verbatim so clients see what DuckDB said, up to
// maxMessage bytes.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok {
		if len(st.Message()) <= maxMessage {
			return err
		}
		return status.Error(st.Code(), clipMessage(st.Message()))
	}
	st := toStatus(err)
	if s, _ := status.FromError(st); len(s.Message()) > maxMessage {
		return status.Error(s.Code(), clipMessage(s.Message()))
	}
	return st
}

// maxMessage bounds a status's message: it travels in the trailers, and
// gRPC clients refuse metadata past 8 KiB or 16 KiB (a failed query of 16
// tasks, DuckDB's error once a task, sent 18 KB: pyarrow's Flight client
// got "metadata size exceeds soft limit" or a reset stream, not the error).
const maxMessage = 4 << 10

// clipMessage is msg's first maxMessage bytes, saying how many more there
// were.
func clipMessage(msg string) string {
	rest := fmt.Sprintf(" ... (%d more bytes)", len(msg)-maxMessage)
	return strings.ToValidUTF8(msg[:maxMessage-len(rest)], "") + rest
}

func toStatus(err error) error {
	var de *duck.Error
	switch {
	case errors.As(err, &de):
		msg := de.Msg
		if de.Kind == duck.KindInterrupted {
			// Who stopped it (a cancel, a session's next request) and
			// then DuckDB's words: a cancelled read said only "INTERRUPT
			// Error: Interrupted!" one time in five (a tester's).
			msg = err.Error()
		}
		return status.Error(duckCode(de.Kind), msg)
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, ErrUnauthenticated), errors.Is(err, token.ErrExpired),
		errors.Is(err, token.ErrSignature):
		return status.Error(codes.Unauthenticated, err.Error())
	case errors.Is(err, ErrDenied):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, ErrInvalid), errors.Is(err, duck.ErrBadParameter), errors.Is(err, token.ErrMalformed):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, ErrBusy):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, ErrUnimplemented):
		return status.Error(codes.Unimplemented, err.Error())
	case errors.Is(err, ErrUnavailable):
		return status.Error(codes.Unavailable, err.Error())
	}
	// A call to another node that failed, wrapped: its code, not
	// Internal (a distributed COPY onto a full disk was Internal around
	// the executor's ResourceExhausted, a tester's).
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown && st.Code() != codes.OK {
		return status.Error(st.Code(), err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

func duckCode(k duck.Kind) codes.Code {
	switch k {
	case duck.KindInvalid:
		return codes.InvalidArgument
	case duck.KindNotFound:
		return codes.NotFound
	case duck.KindAlreadyExists:
		return codes.AlreadyExists
	case duck.KindPermission:
		return codes.PermissionDenied
	case duck.KindConstraint:
		return codes.FailedPrecondition
	case duck.KindInterrupted:
		return codes.Canceled
	case duck.KindOutOfMemory:
		return codes.ResourceExhausted
	case duck.KindConflict:
		return codes.Aborted
	case duck.KindUnsupported:
		return codes.Unimplemented
	case duck.KindUnavailable:
		return codes.Unavailable
	}
	return codes.Internal
}

// StatusInterceptors apply ToStatus to every RPC's error and turn a panic
// in a handler into an Internal status instead of a dead server. Every
// Skein gRPC server (the coordinator's, the executors') installs them
// first, so no error leaves without its code.
func StatusInterceptors(log zerolog.Logger) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	recoverPanic := func(method string, err *error) {
		if r := recover(); r != nil {
			log.Error().Str("method", method).Interface("panic", r).Bytes("stack", debug.Stack()).Msg("handler panicked")
			*err = status.Errorf(codes.Internal, "internal error in %s: %v", method, r)
		}
	}
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer recoverPanic(info.FullMethod, &err)
		resp, err = h(ctx, req)
		return resp, ToStatus(err)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
		defer recoverPanic(info.FullMethod, &err)
		return ToStatus(h(srv, ss))
	}
	return unary, stream
}
