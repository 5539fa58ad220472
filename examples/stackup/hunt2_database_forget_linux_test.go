package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// billingBody is a request body that upgrades the billing application
// alone: one application step, on no platform the shop's plan changes.
const billingBody = `{"requests": [{"application": "billing", "replaces": "billing_app",
  "template": {"id": "billing_app", "type": "webapp", "version": "3.3.0"}}]}`

// TestServeDatabaseRetriedRunNotForgotten: a database run that failed and
// is taken up again (resume) runs again; runs that end meanwhile make the
// server forget the oldest ended runs (here, beyond one), but never the
// run taken up again, which is running: it is still listed, running, and
// can be cancelled.
func TestServeDatabaseRetriedRunNotForgotten(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	ts := newDatabaseServer(t, e, db, schema)
	ts.srv.mu.Lock()
	ts.srv.keep = 1
	ts.srv.mu.Unlock()

	// Run A fails at its first step, and ends.
	code, ans := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, ans)
	runA, planA := ans["run"].(string), ans["plan"].(string)
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", "false", "--plan", planA, "--poll", "50ms")
	events := ts.follow(t, "/v1/runs/"+runA+"/events", "")
	require.Contains(t, events[len(events)-1].data, `"state":"failed"`)
	w.wait(t)

	// Taken up again, with no worker: it runs on, in the database.
	code, ans = ts.post(t, "/v1/runs/"+runA+"/resume", "")
	require.Equal(t, http.StatusAccepted, code, ans)

	// Run B, of another application, ends meanwhile.
	code, ans = ts.post(t, "/v1/apply", billingBody)
	require.Equal(t, http.StatusAccepted, code, ans)
	runB, planB := ans["run"].(string), ans["plan"].(string)
	w = startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", "true", "--plan", planB, "--poll", "50ms")
	events = ts.follow(t, "/v1/runs/"+runB+"/events", "")
	require.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)
	w.wait(t)

	_, list := ts.get(t, "/v1/runs")
	var listed []string
	for _, r := range list["runs"].([]any) {
		listed = append(listed, r.(map[string]any)["run"].(string)+" "+r.(map[string]any)["state"].(string))
	}
	assert.Contains(t, listed, runA+" running", "the run taken up again is listed")
	code, ans = ts.post(t, "/v1/runs/"+runA+"/cancel", "")
	assert.Equal(t, http.StatusAccepted, code, "the running run can be cancelled: %v", ans)
	events = ts.follow(t, "/v1/runs/"+runA+"/events", "")
	assert.Contains(t, events[len(events)-1].data, `"state":"cancelled"`)
}
