package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeDatabaseForgottenFailedRunTakenUp: a database run that failed
// and that the server has since forgotten (more runs ended after it) is
// taken up again when its plan is applied again, as one the server
// remembers is: its steps not done run, and it succeeds.
func TestServeDatabaseForgottenFailedRunTakenUp(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	ts := newDatabaseServer(t, e, db, schema)
	ts.srv.mu.Lock()
	ts.srv.keep = 1
	ts.srv.mu.Unlock()

	// Run A fails at its first step.
	code, ans := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, ans)
	runA, planA := ans["run"].(string), ans["plan"].(string)
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", "false", "--plan", planA, "--poll", "50ms")
	events := ts.follow(t, "/v1/runs/"+runA+"/events", "")
	require.Contains(t, events[len(events)-1].data, `"state":"failed"`)
	w.wait(t)

	// Run B, of another application, ends after it: A is forgotten.
	code, ans = ts.post(t, "/v1/apply", billingBody)
	require.Equal(t, http.StatusAccepted, code, ans)
	runB, planB := ans["run"].(string), ans["plan"].(string)
	w = startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", "true", "--plan", planB, "--poll", "50ms")
	events = ts.follow(t, "/v1/runs/"+runB+"/events", "")
	require.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)
	w.wait(t)
	_, list := ts.get(t, "/v1/runs")
	require.Len(t, list["runs"], 1, "A is forgotten")

	// A's plan applied again: A is taken up again, and succeeds.
	code, ans = ts.post(t, "/v1/plans/"+planA+"/apply", "")
	require.Equal(t, http.StatusAccepted, code, ans)
	assert.Equal(t, runA, ans["run"])
	_, status := ts.get(t, "/v1/runs/"+runA)
	for id, state := range status["steps"].(map[string]any) {
		assert.NotEqual(t, stepNotStarted, state, "step %s of the run taken up again is still to come", id)
	}
	w = startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.record(), "--plan", planA, "--poll", "50ms")
	events = ts.follow(t, "/v1/runs/"+runA+"/events", "")
	assert.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)
	require.NoError(t, w.cmd.Process.Kill())
	w.wait(t)
	assert.Equal(t, ledgerOf(allSteps...), e.readLedger(t), "every step of A ran, once")
}
