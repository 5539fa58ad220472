package pgrun

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// A schema at version 1, holding a run submitted then (barriers expanded
// into step-to-step edges), is migrated by Open; the run completes, and
// new runs store barriers as vertices.
func TestOpenMigratesVersion1(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	v1 := &Store{pool: pool, name: s.name + "_v1", schema: pgx.Identifier{s.name + "_v1"}.Sanitize()}
	ddl, err := os.ReadFile("testdata/schema_v1.sql")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, v1.q(`CREATE SCHEMA {s}; CREATE TABLE {s}.schema_version (version int NOT NULL);
		INSERT INTO {s}.schema_version VALUES (1);`)+v1.q(string(ddl)))
	require.NoError(t, err)
	// A run of version 1: c after barrier b after a, stored as a → c.
	plan := &upgrade.Plan{ID: "old", Steps: []upgrade.Step{{ID: "a", Node: "n-a", Kind: upgrade.Platform},
		{ID: "c", Node: "n-c", Kind: upgrade.Platform, After: []upgrade.StepID{"b"}}},
		Barriers: []upgrade.Barrier{{ID: "b", After: []upgrade.StepID{"a"}}}}
	var buf bytes.Buffer
	require.NoError(t, plan.WriteJSON(&buf))
	_, err = pool.Exec(ctx, v1.q(`INSERT INTO {s}.runs (plan_id, digest, plan, concurrency, policy, attempts, backoff_us,
			max_backoff_us, timeout_us, total) VALUES ('old', '\x00', $1, 1, 0, 1, 0, 0, 0, 2)`), buf.Bytes())
	require.NoError(t, err)
	_, err = pool.Exec(ctx, v1.q(`INSERT INTO {s}.steps (plan_id, idx, step_id, node, prio, waiting, state) VALUES
			('old', 0, 'a', 'n-a', 1, 0, 'ready'), ('old', 1, 'c', 'n-c', 0, 1, 'waiting');
		INSERT INTO {s}.edges VALUES ('old', 0, 1);`))
	require.NoError(t, err)

	migrated, err := Open(ctx, pool, v1.name)
	require.NoError(t, err)
	var version int
	require.NoError(t, pool.QueryRow(ctx, migrated.q(`SELECT version FROM {s}.schema_version`)).Scan(&version))
	assert.Equal(t, SchemaVersion, version)
	exec := &upgradetest.Executor{}
	work(t, migrated, "old", 2, exec, fastWorker)
	st, err := migrated.Status(ctx, "old")
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.NoError(t, st.Err)
	assert.Equal(t, []upgrade.StepID{"a", "c"}, exec.Started())

	plan.ID = "new"
	require.NoError(t, migrated.Submit(ctx, plan, Options{Rollback: true}))
	var rows int
	require.NoError(t, pool.QueryRow(ctx, migrated.q(`SELECT count(*) FROM {s}.steps WHERE plan_id = 'new'`)).Scan(&rows))
	assert.Equal(t, 3, rows, "two steps and a barrier")
	work(t, migrated, "new", 1, exec, fastWorker)
	st, err = migrated.Status(ctx, "new")
	require.NoError(t, err)
	require.NoError(t, st.Err)
	_, err = pool.Exec(ctx, `DROP SCHEMA `+v1.schema+` CASCADE`)
	require.NoError(t, err)
}
