package flightsql

import (
	"errors"
	"strings"
	"testing"

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
