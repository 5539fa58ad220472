package pgrun

import (
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
)

// TestHunt15TransientOnlyConnections: Wait took every error that did not
// come from the server for one of a lost connection, and looked again
// till its context ended: a Store closed under it (the pool's "closed
// pool"), or a row that does not scan, which every look meets again, kept
// it waiting for nothing. Only the connection's own errors are ridden out
// now; those of the server's restarts are covered against a real server
// by TestHunt15WaitRidesOutLostConnection.
func TestHunt15TransientOnlyConnections(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("pgrun: reading run p: %w", err) }
	for _, err := range []error{
		&net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")},
		io.ErrUnexpectedEOF,
		io.EOF,
		pgconn.ErrConnClosed,
		&pgconn.PgError{Code: "57P01"}, // terminating connection due to administrator command
		&pgconn.PgError{Code: "08006"},
		&pgconn.PgError{Code: "53300"}, // too many connections
		&pgconn.PgError{Code: "40001"},
	} {
		assert.True(t, transient(wrap(err)), "%v", err)
	}
	for _, err := range []error{
		errors.New("closed pool"), // puddle's, of a closed Store's pool
		errors.New("can't scan into dest[0]: cannot scan NULL into *string"),
		&pgconn.PgError{Code: "42P01"}, // undefined table
		fmt.Errorf("%w: plan p was not submitted", ErrUnknownRun),
	} {
		assert.False(t, transient(wrap(err)), "%v", err)
	}
}
