package pgrun

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// statusReads is a pgx.QueryTracer that counts the runs Status reads
// (its first statement), and closes first at the first; and listening,
// if not nil, once a LISTEN has succeeded.
type statusReads struct {
	n         atomic.Int64
	first     chan struct{}
	listening chan struct{}
	once      sync.Once
}

func (c *statusReads) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.Contains(d.SQL, "SELECT state, finished_at IS NOT NULL FROM") && c.n.Add(1) == 1 {
		close(c.first)
	}
	return context.WithValue(ctx, c, d.SQL)
}

func (c *statusReads) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	if sql, _ := ctx.Value(c).(string); d.Err == nil && strings.HasPrefix(sql, "LISTEN") && c.listening != nil {
		c.once.Do(func() { close(c.listening) })
	}
}

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

// TestHunt16TwoWaitsOneRun: two Wait calls on one run, in one process
// (two requests following the run, say), each read the run once, and
// again when the run's workers notify a change (here: the run cancelled,
// which both see), not in a loop. Before, each passed every wake it had
// to the other, which passed it back: from the listener's first wake
// on, the two read the run as fast as the database answered (626 reads
// before anything happened, with an interval of an hour), for as long as
// the run lasted.
func TestHunt16TwoWaitsOneRun(t *testing.T) {
	s, _ := testStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a failure bound
	defer cancel()
	plan := &upgrade.Plan{ID: "two-waits", Steps: []upgrade.Step{{ID: "a", Kind: upgrade.Platform, Node: "n-a"}}}
	require.NoError(t, s.Submit(ctx, plan, Options{}))
	reads := &statusReads{first: make(chan struct{}), listening: make(chan struct{})}
	waiter, err := Open(ctx, h15Pool(t, databaseURL, "h16-waiters", reads, nil), s.name)
	require.NoError(t, err)
	done := make(chan *Status, 2)
	for range 2 {
		go func() {
			st, err := waiter.Wait(ctx, plan.ID, time.Hour)
			assert.NoError(t, err)
			done <- st
		}()
	}
	<-reads.first
	<-reads.listening // and wakes both, for what they may have missed
	for range 100 {
		_, err := s.Status(ctx, plan.ID)
		require.NoError(t, err)
	}
	looks := reads.n.Load()
	require.NoError(t, s.Cancel(ctx, plan.ID)) // nothing runs: the run ends, and notifies
	for range 2 {
		st := <-done
		require.NotNil(t, st)
		assert.True(t, st.Finished && st.Cancelled, "each Wait saw the run end")
	}
	require.LessOrEqual(t, looks, int64(10), "two Waits read the run %d times while the test read it 100 times", looks)
}
