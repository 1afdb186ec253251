package flightsql

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/skeindb/skein/internal/token"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A status's message is clipped to maxMessage, whatever made it: a long
// error joined from many tasks' reached clients as a transport error
// (its trailers over their metadata limit), not as itself.
func TestStatusMessagesAreBounded(t *testing.T) {
	long := strings.Repeat("Conversion Error: could not convert string 'x' to INT32; ", 400)
	for _, err := range []error{
		errors.New(long),
		status.Error(codes.InvalidArgument, long),
		errors.Join(ErrInvalid, errors.New(long)),
	} {
		st, _ := status.FromError(ToStatus(err))
		if n := len(st.Message()); n > maxMessage || !strings.Contains(st.Message(), long[:100]) || !strings.Contains(st.Message(), "more bytes)") {
			t.Errorf("a message of %d bytes became one of %d: %.200q", len(long), n, st.Message())
		}
	}
	if st, _ := status.FromError(ToStatus(errors.New("short"))); st.Message() != "short" {
		t.Errorf("a short message changed: %q", st.Message())
	}
}

// A handle that expired is NotFound, saying so; a forged one stays what its
// caller makes it (a bad signature reads as a credential's failure).
func TestVerifyErrorSaysExpired(t *testing.T) {
	expired := ToStatus(VerifyError("poll descriptor", fmt.Errorf("poll: %w", token.ErrExpired), ErrInvalid))
	if status.Code(expired) != codes.NotFound || !strings.Contains(expired.Error(), "poll descriptor expired") {
		t.Errorf("expired: %v", expired)
	}
	forged := ToStatus(VerifyError("ticket", token.ErrMalformed, ErrInvalid))
	if status.Code(forged) != codes.InvalidArgument {
		t.Errorf("malformed: %v", forged)
	}
	if err := ToStatus(VerifyError("task ticket", token.ErrSignature, ErrUnauthenticated)); status.Code(err) != codes.Unauthenticated {
		t.Errorf("forged at an executor: %v", err)
	}
}
