package main

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade/pgrun"
)

// TestHunt16ApplyDatabaseTakenUpWithOtherFlags: a plan whose run in the
// database failed, applied again with other run flags (--retries 2 where
// it had none), is refused (exit 2), naming the run flags, and the run is
// not taken up: nothing runs. Before, apply took the run up again with
// the flags it was first submitted with, saying nothing: the operator who
// added --retries for a flaky step had it run once, as before, and a run
// still going, applied so, was refused (ErrPlanConflict) while one ended
// was not. Applied again with its own flags, the run is taken up.
func TestHunt16ApplyDatabaseTakenUpWithOtherFlags(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	f := e.failedDatabaseRun(t, db, schema)
	planFile, first, w := f.planFile, f.ledger, f.worker
	r := stackup(t, e.planFileArgs(planFile, "--database", db, "--database-schema", schema, "--quiet", "--continue", "--retries", "2")...)
	require.Equal(t, exitUsage, r.code, r.String())
	assert.Contains(t, r.stderr, "--retries")
	assert.Contains(t, r.stderr, "give the run flags it was submitted with")
	assert.NotContains(t, r.stdout, "taken up again")

	// With the flags it was submitted with, it is taken up: only then does
	// anything run.
	assert.Equal(t, first, e.readLedger(t), "nothing ran")
	r = stackup(t, e.planFileArgs(planFile, "--database", db, "--database-schema", schema, "--quiet", "--continue")...)
	require.Equal(t, exitOK, r.code, r.String())
	assert.Contains(t, r.stdout, "8 succeeded (5 in an earlier run), 0 failed, 0 skipped")
	assert.Equal(t, exitOK, w.wait(t), w.stderr.String())
}

// TestHunt16ServeDatabaseResumeWithOtherFlags: a database run that failed,
// resumed by a server restarted with other run flags (--retries 2), is
// refused, 409 {"kind": "conflict"} naming the run flags, and not taken
// up: nothing runs, and the run stays failed. Before, the server took it
// up with the flags it was first submitted with, saying nothing, as
// apply --database did (TestHunt16ApplyDatabaseTakenUpWithOtherFlags).
// A server with the run's own flags takes it up.
func TestHunt16ServeDatabaseResumeWithOtherFlags(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	stateDir := filepath.Join(t.TempDir(), "state")
	ts1 := newDatabaseServerIn(t, e, db, schema, stateDir)
	code, ans := ts1.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, ans)
	run, planID := ans["run"].(string), ans["plan"].(string)
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.failOn(allSteps[0]),
		"--plan", planID, "--poll", "50ms")
	events := ts1.follow(t, "/v1/runs/"+run+"/events", "")
	require.Contains(t, events[len(events)-1].data, `"state":"failed"`)
	require.Equal(t, exitOK, w.wait(t), w.stderr.String())
	ts1.stop()

	ts2 := newDatabaseServerWith(t, e, db, schema, stateDir, func(rf *runFlags) { rf.retries = 2 })
	code, ans = ts2.post(t, "/v1/runs/"+run+"/resume", "")
	require.Equal(t, http.StatusConflict, code, ans)
	assert.Equal(t, "conflict", ans["kind"])
	assert.Contains(t, ans["error"], "--retries")
	code, ans = ts2.post(t, "/v1/plans/"+planID+"/apply", "")
	require.Equal(t, http.StatusConflict, code, ans)
	assert.Equal(t, "conflict", ans["kind"])
	st, err := ts2.srv.db.Status(t.Context(), planID)
	require.NoError(t, err)
	assert.True(t, st.Finished, "not taken up")
	_, status := ts2.get(t, "/v1/runs/"+run)
	assert.Equal(t, "failed", status["state"])
	ts2.stop()

	ts3 := newDatabaseServerIn(t, e, db, schema, stateDir)
	code, ans = ts3.post(t, "/v1/runs/"+run+"/resume", "")
	require.Equal(t, http.StatusAccepted, code, ans)
	w = startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.record(), "--plan", planID, "--poll", "50ms")
	events = ts3.follow(t, "/v1/runs/"+run+"/events", "")
	assert.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)
	assert.Equal(t, exitOK, w.wait(t), w.stderr.String())
}

// TestHunt16WorkerNameNotUTF8: worker --name that is not UTF-8 (a name
// made from a host name or a variable in Latin-1) is refused at start,
// exit 2, naming --name, before the database is reached. Before, it was
// taken, and every Work call refused it: with --plan the worker exited 1
// saying "pgrun: WorkerOptions.Name ... is not text PostgreSQL can hold",
// an option the operator never gave; without, it logged "working on a
// run failed" at every --poll, for every run, and ran nothing, for ever.
func TestHunt16WorkerNameNotUTF8(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	plan := planOf(t, newApplyEnv(t))
	require.NoError(t, openStore(t, db, schema).Submit(t.Context(), plan, pgrun.Options{}))
	for _, args := range [][]string{
		{"--database", db, "--database-schema", schema, "--plan", plan.ID},
		{"--database", "postgres://127.0.0.1:1/none"}, // not reached
	} {
		r := stackup(t, append([]string{"worker", "--exec", "true", "--name", "w\xff1"}, args...)...)
		assert.Equal(t, exitUsage, r.code, r.String())
		assert.Contains(t, r.stderr, `--name "w\xff1" is not UTF-8`)
	}
}
