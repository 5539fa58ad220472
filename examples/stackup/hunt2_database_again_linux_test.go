package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeDatabaseForgottenSucceededRunAgain: applying again the plan of
// a database run that succeeded answers with that run, whether the server
// still remembers it or has forgotten it (more runs ended after it): as
// nothing runs again, the metrics count neither the run nor its steps
// again.
func TestServeDatabaseForgottenSucceededRunAgain(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	ts := newDatabaseServer(t, e, db, schema)
	ts.srv.mu.Lock()
	ts.srv.keep = 1
	ts.srv.mu.Unlock()
	run := func(body string) (string, string) {
		t.Helper()
		code, ans := ts.post(t, "/v1/apply", body)
		require.Equal(t, http.StatusAccepted, code, ans)
		id, planID := ans["run"].(string), ans["plan"].(string)
		w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", "true", "--plan", planID, "--poll", "50ms")
		events := ts.follow(t, "/v1/runs/"+id+"/events", "")
		require.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)
		w.wait(t)
		return id, planID
	}
	runA, planA := run(requestBody(t, "testdata/requests.json"))
	run(billingBody) // A is forgotten
	_, list := ts.get(t, "/v1/runs")
	require.Len(t, list["runs"], 1, "A is forgotten")

	code, ans := ts.post(t, "/v1/plans/"+planA+"/apply", "")
	require.Equal(t, http.StatusAccepted, code, ans)
	assert.Equal(t, runA, ans["run"])
	events := ts.follow(t, "/v1/runs/"+runA+"/events", "")
	assert.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)

	resp, err := ts.client.Get(ts.url + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var ours strings.Builder
	for _, line := range strings.SplitAfter(string(body), "\n") {
		if strings.HasPrefix(line, "stackup_runs_total") || strings.HasPrefix(line, "stackup_steps_total") {
			ours.WriteString(line)
		}
	}
	for _, line := range []string{
		`stackup_runs_total{outcome="succeeded"} 2`,
		`stackup_steps_total{state="succeeded"} 9`, // A's 8 steps and B's one
	} {
		assert.Contains(t, ours.String(), line+"\n")
	}
}
