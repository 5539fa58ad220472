package pgrun

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/pgrun/pgtest"
)

// h15Server starts a PostgreSQL server of the test's own, for a test that
// restarts it or kills its connections, and returns its URL.
func h15Server(t *testing.T) *pgtest.Server {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	srv, err := pgtest.Start()
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	return srv
}

// h15Pool returns a pool on url whose connections are named app (see
// pg_stat_activity.application_name), tracing its statements with
// tracer if not nil.
func h15Pool(t *testing.T, url, app string, tracer pgx.QueryTracer, edit func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	cfg.ConnConfig.Tracer = tracer
	if edit != nil {
		edit(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// h15Terminate ends the server's connections named app, as an operator's
// pg_terminate_backend does, and waits until they are gone: all but the
// one that LISTENs, kept out of the pool. Were it ended too, the listener
// could connect again first, taking the pool's dead connection (its LISTEN
// failing there) and leaving the next read a new one, which would never
// meet the lost connection.
func h15Terminate(t *testing.T, admin *pgxpool.Pool, app string) {
	t.Helper()
	ctx := context.Background()
	var pids []int32
	require.NoError(t, admin.QueryRow(ctx, `SELECT coalesce(array_agg(pid), '{}') FROM pg_stat_activity
		WHERE application_name = $1 AND query NOT LIKE 'LISTEN %'`, app).Scan(&pids))
	require.NotEmpty(t, pids, "no connection named %s", app)
	_, err := admin.Exec(ctx, `SELECT pg_terminate_backend(p) FROM unnest($1::int[]) p`, pids)
	require.NoError(t, err)
	for { // the backends exit once they have the signal
		var n int
		require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)`, pids).Scan(&n))
		if n == 0 {
			return
		}
		time.Sleep(time.Millisecond) // polling the server's state, not ordering events
	}
}

// failedQueries is a pgx.QueryTracer that closes listening once LISTEN
// has succeeded, read once Status has read a run after that (its first
// statement succeeded, on a connection of the pool, the listener's taken
// out of it), and failed once a statement other than LISTEN has failed.
type failedQueries struct {
	once, readOnce, listenOnce sync.Once
	read, listening, failed    chan struct{}
}

func (f *failedQueries) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, f, d.SQL)
}

func (f *failedQueries) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	sql, _ := ctx.Value(f).(string)
	switch {
	case d.Err != nil && !strings.HasPrefix(sql, "LISTEN"):
		f.once.Do(func() { close(f.failed) })
	case d.Err == nil && strings.Contains(sql, "finished_at IS NOT NULL") && isClosed(f.listening):
		f.readOnce.Do(func() { close(f.read) })
	case d.Err == nil && strings.HasPrefix(sql, "LISTEN"):
		f.listenOnce.Do(func() { close(f.listening) })
	}
}

// TestHunt15WaitRidesOutLostConnection: the connection of a process that
// Waits on a run is ended by the server (pg_terminate_backend, as a
// restart does) while a worker elsewhere runs a step: Wait reads
// the run again on a new connection, as workers do, and returns once the
// run has finished, with its Status. Before, Wait returned at its first
// read on the lost connection, with the connection's error ("terminating
// connection due to administrator command"), though the run went on and
// succeeded: a caller following the run took it for failed. A run
// unknown still ends Wait at once.
func TestHunt15WaitRidesOutLostConnection(t *testing.T) {
	srv := h15Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a failure bound
	defer cancel()
	admin := h15Pool(t, srv.URL, "h15-admin", nil, nil)
	s, err := Open(ctx, admin, "h15")
	require.NoError(t, err)
	plan := chain3("wait-lost")
	require.NoError(t, s.Submit(ctx, plan, Options{}))

	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	exec := upgrade.ExecutorFunc(func(ctx context.Context, st upgrade.Step) error {
		once.Do(func() { close(started) })
		<-release
		return nil
	})
	workerPool := h15Pool(t, srv.URL, "h15-worker", nil, nil)
	ws, err := Open(ctx, workerPool, "h15")
	require.NoError(t, err)
	worked := make(chan error, 1)
	go func() { worked <- ws.Work(ctx, plan.ID, exec, sleepy) }()
	<-started

	tracer := &failedQueries{read: make(chan struct{}), listening: make(chan struct{}), failed: make(chan struct{})}
	// No ping before a connection is reused: the read after the kill
	// meets the lost connection, as one within a second of the last does.
	waiterPool := h15Pool(t, srv.URL, "h15-waiter", tracer, func(c *pgxpool.Config) {
		c.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	})
	waiter, err := Open(ctx, waiterPool, "h15")
	require.NoError(t, err)
	type waited struct {
		st  *Status
		err error
	}
	waitDone := make(chan waited, 1)
	go func() {
		st, err := waiter.Wait(ctx, plan.ID, time.Millisecond)
		waitDone <- waited{st, err}
	}()
	<-tracer.read // Wait's connection is open, the listener's apart (see h15Terminate): the kill ends the first
	h15Terminate(t, admin, "h15-waiter")
	<-tracer.failed // Wait read the run on a lost connection
	close(release)
	w := <-waitDone
	require.NoError(t, w.err, "Wait gave up as its connection was lost; the run went on")
	require.True(t, w.st.Finished)
	require.NoError(t, w.st.Err)
	require.NoError(t, <-worked)
	// Other errors end Wait at once, as before.
	_, err = waiter.Wait(ctx, "no-such-run", time.Hour)
	require.ErrorIs(t, err, ErrUnknownRun)
}
