package pgrun

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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

	migrated := migrate(t, pool, v1.name)
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

// A schema at version 3, as released, holding a run under way (a step
// finished, one claimed, by version 3's functions), is migrated by Open:
// the claimed step's worker records it with version 4's finish_and_claim,
// and the run completes, each step started once and after its
// prerequisites.
func TestOpenMigratesVersion3(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	v3 := oldSchema(t, s, 3)
	name := v3.name
	var fac bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'finish_and_claim' AND pronamespace = $1::regnamespace)`,
		v3.schema).Scan(&fac))
	require.False(t, fac, "version 3 has no finish_and_claim")
	plan := dagPlan("old", 30, 3)
	require.NoError(t, v3.Submit(ctx, plan, Options{Concurrency: 2}))
	claimV3 := func() (idx int32, token int64) {
		var status string
		require.NoError(t, pool.QueryRow(ctx, v3.q(`SELECT r_status, r_idx, r_token FROM {s}.claim('old', 'v3', 60000000, false)`)).
			Scan(&status, &idx, &token))
		require.Equal(t, "claimed", status)
		return idx, token
	}
	exec := &upgradetest.Executor{}
	idx, token := claimV3()
	require.NoError(t, exec.Execute(ctx, plan.Steps[idx]))
	var status string
	require.NoError(t, pool.QueryRow(ctx, v3.q(`SELECT {s}.finish('old', $1, $2, 1, NULL, 0, 'v3')`), idx, token).Scan(&status))
	require.Equal(t, "ok", status)
	idx, token = claimV3()

	migrated := migrate(t, pool, name)
	require.NoError(t, pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'finish_and_claim' AND pronamespace = $1::regnamespace)`,
		migrated.schema).Scan(&fac))
	require.True(t, fac, "Open created finish_and_claim")

	// The step claimed under version 3, run by a worker of version 4.
	o := fastWorker
	o.Name = "v3"
	w := testWorker(t, migrated, "old", exec, o)
	require.NoError(t, exec.Execute(ctx, plan.Steps[idx]))
	nc, finished, _, claimErr, err := w.finishAndClaim(ctx, &claim{idx: int(idx), token: token, attempts: 1}, 1, "", 0, nil)
	require.NoError(t, err)
	require.NoError(t, claimErr)
	require.False(t, finished)
	require.NotNil(t, nc, "the next step claimed with the end of the last")
	_, err = pool.Exec(ctx, migrated.q(`UPDATE {s}.steps SET lease_until = clock_timestamp() - interval '1 second' WHERE plan_id = 'old' AND idx = $1`), nc.idx)
	require.NoError(t, err) // its worker lost before it started it: taken over, in doubt, below

	work(t, migrated, "old", 2, exec, fastWorker)
	st, err := migrated.Status(ctx, "old")
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.NoError(t, st.Err)
	started := exec.Started()
	assert.Len(t, started, len(plan.Steps), "each step once")
	assert.Equal(t, []upgrade.StepID{plan.Steps[nc.idx].ID}, exec.InDoubt(), "the step whose worker was lost")
	pos := map[upgrade.StepID]int{}
	for i, id := range started {
		if _, ok := pos[id]; !ok {
			pos[id] = i
		}
	}
	for _, step := range plan.Steps {
		for _, a := range step.After {
			assert.Less(t, pos[a], pos[step.ID], "%s started before %s, which it is after", step.ID, a)
		}
	}
	_, err = pool.Exec(ctx, `DROP SCHEMA `+migrated.schema+` CASCADE`)
	require.NoError(t, err)
}

// oldSchema creates, beside s's schema, a schema at version v from
// testdata/schema_v<v>.sql, as a program of that version left it, and
// returns a Store on it (which Open has not seen).
func oldSchema(t *testing.T, s *Store, v int) *Store {
	t.Helper()
	name := fmt.Sprintf("%s_v%d", s.name, v)
	old := &Store{pool: s.pool, name: name, schema: pgx.Identifier{name}.Sanitize(), channel: channelName(name), listener: &listener{}}
	ddl, err := os.ReadFile(fmt.Sprintf("testdata/schema_v%d.sql", v))
	require.NoError(t, err)
	_, err = s.pool.Exec(context.Background(), old.q(fmt.Sprintf(`CREATE SCHEMA {s}; CREATE TABLE {s}.schema_version (version int NOT NULL);
		INSERT INTO {s}.schema_version VALUES (%d);`, v))+old.q(string(ddl)))
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = s.pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+old.schema+` CASCADE`) })
	return old
}

// A schema at version 7, as released, holding a run under way (a step
// claimed by version 7's claim, as a worker of version 7 does), is
// migrated by Open: the worker records the step with version 8's
// finish_and_claim, and a finish sent again under the same lease, its
// reply lost, is told the outcome was recorded; a worker of version 7
// still running goes on with the functions it knows; the run completes,
// each step run once.
func TestOpenMigratesVersion7(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	v7 := oldSchema(t, s, 7)
	plan := chain3("old")
	require.NoError(t, v7.Submit(ctx, plan, Options{}))
	var status string
	var idx int32
	var token int64
	require.NoError(t, pool.QueryRow(ctx, v7.q(`SELECT r_status, r_idx, r_token FROM {s}.claim('old', 'v7', 60000000, false)`)).
		Scan(&status, &idx, &token))
	require.Equal(t, "claimed", status)

	migrated := migrate(t, pool, v7.name)

	exec := &upgradetest.Executor{}
	o := fastWorker
	o.Name = "v7"
	w := testWorker(t, migrated, "old", exec, o)
	require.NoError(t, exec.Execute(ctx, plan.Steps[idx]))
	c := &claim{idx: int(idx), token: token, attempts: 1}
	nc, _, _, claimErr, err := w.finishAndClaim(ctx, c, 1, "", 0, nil)
	require.NoError(t, err)
	require.NoError(t, claimErr)
	require.NotNil(t, nc)
	assert.NoError(t, w.finish(ctx, c, 1, "", 0), "sent again, its first reply lost: recorded")
	assert.ErrorIs(t, w.finish(ctx, &claim{idx: c.idx, token: token + 1}, 1, "", 0), ErrLeaseLost)
	// A worker of version 7, still running, records that step and claims
	// the next with version 7's functions, which take no claim key.
	require.NoError(t, exec.Execute(ctx, plan.Steps[nc.idx]))
	var finish string
	require.NoError(t, pool.QueryRow(ctx, migrated.q(`SELECT r_finish, r_status, r_idx, r_token
		FROM {s}.finish_and_claim('old', $1, $2, 1, NULL, 0, 'v7', 60000000, false)`), nc.idx, nc.token).Scan(&finish, &status, &idx, &token))
	require.Equal(t, "ok", finish)
	require.Equal(t, "claimed", status)
	require.NoError(t, exec.Execute(ctx, plan.Steps[idx]))
	require.NoError(t, pool.QueryRow(ctx, migrated.q(`SELECT {s}.finish('old', $1, $2, 1, NULL, 0, 'v7')`), idx, token).Scan(&finish))
	require.Equal(t, "ok", finish)

	work(t, migrated, "old", 1, exec, fastWorker)
	st, err := migrated.Status(ctx, "old")
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.NoError(t, st.Err)
	assert.Empty(t, st.InDoubt)
	assert.Equal(t, []upgrade.StepID{"a", "b", "c", "d"}, exec.Started(), "each step once, in order")
}

// migrate opens schema, which Open migrates, and checks that it is at
// SchemaVersion.
func migrate(t *testing.T, pool *pgxpool.Pool, schema string) *Store {
	t.Helper()
	ctx := context.Background()
	migrated, err := Open(ctx, pool, schema)
	require.NoError(t, err)
	var version int
	require.NoError(t, pool.QueryRow(ctx, migrated.q(`SELECT version FROM {s}.schema_version`)).Scan(&version))
	assert.Equal(t, SchemaVersion, version)
	return migrated
}

// A schema at version 13, holding a run that failed, is migrated by Open
// to version 14, whose steps.resumed is all it adds, and on: Retry then
// takes the run up, and reports the step it keeps resumed. (Version 13 is
// version 14 without that column: its functions are the same.)
func TestOpenMigratesVersion13(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	v13 := oldSchema(t, s, 14)
	_, err := pool.Exec(ctx, v13.q(`ALTER TABLE {s}.steps DROP COLUMN resumed; UPDATE {s}.schema_version SET version = 13`))
	require.NoError(t, err)
	plan := twoChain("old")
	require.NoError(t, v13.Submit(ctx, plan, Options{}))
	exec := &upgradetest.Executor{}
	exec.FailTimes("b", 1, errBoom)
	work(t, v13, plan.ID, 1, exec, fastWorker)

	migrated := migrate(t, pool, v13.name)
	retried, err := migrated.Retry(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, retried)
	work(t, migrated, plan.ID, 1, exec, fastWorker)
	st, err := migrated.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.NoError(t, st.Err)
	assert.Equal(t, []upgrade.Outcome{{Step: "a", State: upgrade.Succeeded, Resumed: true}, {Step: "b", State: upgrade.Succeeded, Attempts: 1}},
		st.Report.Outcomes)
	assert.Equal(t, []upgrade.StepID{"a", "b", "b"}, exec.Started())
}

// A schema at version 14, as released, holding a run whose worker was
// lost as it ran a step (claimed by version 14's claim), is migrated by
// Open: the step is taken over in doubt and fails, and the steps after it
// are skipped in upgrade.Run's order, depth first; of the step's events,
// only its start says it is in doubt, as upgrade.Run's do. Version 14's
// functions skipped the steps in the order of their indexes, and said in
// doubt of the step's failure too.
func TestOpenMigratesVersion14(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	v14 := oldSchema(t, s, 14)
	plan := diamond() // a; b and c after a; d after both; e
	plan.ID = "old"
	require.NoError(t, v14.Submit(ctx, plan, Options{}))
	var status string
	require.NoError(t, pool.QueryRow(ctx, v14.q(`SELECT r_status FROM {s}.claim('old', 'lost', 3600000000, false, NULL, false)`)).Scan(&status))
	require.Equal(t, "claimed", status)
	expireLeases(t, v14, pool, "old")

	migrated := migrate(t, pool, v14.name)
	exec := &upgradetest.Executor{}
	exec.FailAt("a", errBoom)
	work(t, migrated, "old", 1, exec, fastWorker)
	st, err := migrated.Status(ctx, "old")
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.Equal(t, []upgrade.StepID{"a"}, exec.InDoubt(), "the test's premise: a taken over in doubt")
	events, err := migrated.Events(ctx, "old", 0, 100)
	require.NoError(t, err)
	var skipped []upgrade.StepID
	var doubt []string
	for _, e := range events {
		if e.Kind == upgrade.StepSkipped {
			skipped = append(skipped, e.Step.ID)
		}
		if e.InDoubt {
			doubt = append(doubt, fmt.Sprintf("%v %s", e.Kind, e.Step.ID))
		}
	}
	assert.Equal(t, []upgrade.StepID{"b", "d", "c"}, skipped, "skipped in upgrade.Run's order")
	assert.Equal(t, []string{"started a"}, doubt, "the events that say in doubt")

	// Taken up again (steps.doubt_before, which version 15 adds): a,
	// which failed on its own once offered in doubt, is not in doubt.
	retried, err := migrated.Retry(ctx, "old")
	require.NoError(t, err)
	require.True(t, retried)
	exec.FailTimes("a", 0, nil)
	work(t, migrated, "old", 1, exec, fastWorker)
	st, err = migrated.Status(ctx, "old")
	require.NoError(t, err)
	require.NoError(t, st.Err)
	assert.Empty(t, st.InDoubt)
	assert.Equal(t, []upgrade.StepID{"a"}, exec.InDoubt(), "a offered in doubt only when taken over")
}
