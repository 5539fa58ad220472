package pgrun

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHunt15FrozenStatusFreesTheMigration: a process following a run (an
// apply, a server, a dashboard) freezes in the middle of Status's
// transaction (its process stopped, its network cut without the server
// learning of it), having read the run's steps, as a release migrates
// the schema: the migration goes on once the frozen transaction has been
// idle for DefaultLease, which the server then ends. Before, the frozen
// read held its lock on the steps table until the process came back or
// TCP gave up (hours): the migration's ALTER TABLE waited on it, and
// every worker of every run in the schema waited behind the migration.
func TestHunt15FrozenStatusFreesTheMigration(t *testing.T) {
	s, pool := testStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a failure bound
	defer cancel()
	old := oldSchema(t, s, 14)
	plan := chain3("frozen-status")
	require.NoError(t, old.Submit(ctx, plan, Options{}))
	ps, proxy := proxiedStore(t, s)
	follower := &Store{pool: ps.pool, name: old.name, schema: old.schema, channel: old.channel, listener: &listener{}}
	stop := h15Freeze(t, ctx, proxy, "SELECT step_id, node, state", func(ctx context.Context) error { // the steps read
		_, err := follower.Status(ctx, plan.ID)
		return err
	})
	defer stop()
	_, err := Open(ctx, pool, old.name)
	require.NoError(t, err, "the migration waited on the frozen read")
}
