package pgrun

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// statusReads is a pgx.QueryTracer that counts the runs Status reads
// (its first statement), and closes first at the first.
type statusReads struct {
	n     atomic.Int64
	first chan struct{}
}

func (c *statusReads) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.Contains(d.SQL, "SELECT state, finished_at IS NOT NULL FROM") && c.n.Add(1) == 1 {
		close(c.first)
	}
	return ctx
}

func (c *statusReads) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestHunt16WaitIntervalNotPositive: Wait with an interval of 0, or
// below, looks at the run when its workers notify a change and at
// DefaultPoll otherwise, as WorkerOptions.Poll takes 0 for its default.
// Before, it looked again at once, without end: a caller that meant "on
// notifications" (or passed a Duration left unset) had Wait read the run
// in a loop as fast as the database answered, a CPU and a connection of
// the server busy for as long as the run lasted, and the Store's listener
// reconnecting in a loop as fast while the database was out of reach.
// The bound below is relative to the test's own reads, not to a clock:
// while the test reads the run 100 times, one after the other, a Wait
// that spins reads it about as often; one that polls at DefaultPoll,
// once or twice.
func TestHunt16WaitIntervalNotPositive(t *testing.T) {
	for _, interval := range []time.Duration{0, -time.Second} {
		t.Run(interval.String(), func(t *testing.T) {
			s, _ := testStore(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a failure bound
			defer cancel()
			plan := &upgrade.Plan{ID: "wait-interval", Steps: []upgrade.Step{{ID: "a", Kind: upgrade.Platform, Node: "n-a"}}}
			require.NoError(t, s.Submit(ctx, plan, Options{}))

			reads := &statusReads{first: make(chan struct{})}
			waiter, err := Open(ctx, h15Pool(t, databaseURL, "h16-waiter", reads, nil), s.name)
			require.NoError(t, err)

			var st *Status
			done := make(chan error, 1)
			go func() {
				var err error
				st, err = waiter.Wait(ctx, plan.ID, interval)
				done <- err
			}()
			<-reads.first
			for range 100 {
				_, err := s.Status(ctx, plan.ID)
				require.NoError(t, err)
			}
			looks := reads.n.Load()
			require.NoError(t, s.Cancel(ctx, plan.ID)) // nothing runs: the run ends, and notifies
			require.NoError(t, <-done)
			require.True(t, st.Finished)
			require.True(t, st.Cancelled)
			require.LessOrEqual(t, looks, int64(10), "Wait(%v) read the run %d times while the test read it 100 times", interval, looks)
		})
	}
}
