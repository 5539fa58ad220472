package pgrun

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHunt15FrozenMigrationFreesTheSchema: the process migrating a schema
// (a release's deployer) freezes in the middle of the migration (its
// process stopped, its network cut without the server learning of it),
// its transaction holding the migration's lock and the tables' locks that
// its ALTER TABLE took: another process's Open of the schema migrates it
// once the frozen transaction has been idle for DefaultLease, which the
// server then ends. Before, the frozen session held its locks until the
// process came back or TCP gave up (hours): every Open of the schema
// waited, and so did every worker of every run in it, on the tables.
func TestHunt15FrozenMigrationFreesTheSchema(t *testing.T) {
	s, pool := testStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a failure bound
	defer cancel()
	old := oldSchema(t, s, 14)
	ps, proxy := proxiedStore(t, s)
	stop := h15Freeze(t, ctx, proxy, "doubt_before", func(ctx context.Context) error { // migration 15's ALTER TABLE, and its functions
		_, err := Open(ctx, ps.pool, old.name)
		return err
	})
	defer stop()
	_, err := Open(ctx, pool, old.name)
	require.NoError(t, err, "the schema stayed locked by the frozen migration")
	var version int
	require.NoError(t, pool.QueryRow(ctx, old.q(`SELECT version FROM {s}.schema_version`)).Scan(&version))
	require.Equal(t, SchemaVersion, version)
}

// h15Freeze calls first, whose statements go through proxy, in a
// goroutine, and returns once its connection froze after the statement
// holding text (see freezeAfter); the function it returns ends first and
// waits for it.
func h15Freeze(t *testing.T, ctx context.Context, proxy *faultProxy, text string, first func(context.Context) error) (stop func()) {
	t.Helper()
	frozen := proxy.freezeAfter(text)
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- first(fctx) }()
	select {
	case <-frozen:
	case err := <-done:
		cancel()
		t.Fatalf("it ended before it froze: %v", err)
	}
	return func() { cancel(); <-done }
}
