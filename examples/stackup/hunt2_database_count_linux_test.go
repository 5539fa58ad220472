package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeDatabaseRetriedForgottenRunCountedOnce: a database run that
// failed, was forgotten (another run ended after it) and is taken up
// again by applying its plan again is read again from its first event;
// the metrics count the events of its first attempt once, not again.
func TestServeDatabaseRetriedForgottenRunCountedOnce(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	ts := newDatabaseServer(t, e, db, schema)
	ts.srv.mu.Lock()
	ts.srv.keep = 1
	ts.srv.mu.Unlock()
	run := func(body, exec, want string) (string, string) {
		t.Helper()
		code, ans := ts.post(t, "/v1/apply", body)
		require.Equal(t, http.StatusAccepted, code, ans)
		id, planID := ans["run"].(string), ans["plan"].(string)
		w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", exec, "--plan", planID, "--poll", "50ms")
		events := ts.follow(t, "/v1/runs/"+id+"/events", "")
		require.Contains(t, events[len(events)-1].data, `"state":"`+want+`"`)
		w.wait(t)
		return id, planID
	}
	runA, planA := run(requestBody(t, "testdata/requests.json"), "false", "failed") // its first step fails
	run(billingBody, "true", "succeeded")                                           // A is forgotten

	code, ans := ts.post(t, "/v1/plans/"+planA+"/apply", "")
	require.Equal(t, http.StatusAccepted, code, ans)
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", "true", "--plan", planA, "--poll", "50ms")
	events := ts.follow(t, "/v1/runs/"+runA+"/events", "")
	require.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)
	w.wait(t)

	resp, err := ts.client.Get(ts.url + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var ours strings.Builder
	for _, line := range strings.SplitAfter(string(body), "\n") {
		if strings.HasPrefix(line, "stackup_steps_total") {
			ours.WriteString(line)
		}
	}
	for _, line := range []string{
		`stackup_steps_total{state="started"} 10`,  // A: 1, then 8; B: 1
		`stackup_steps_total{state="failed"} 1`,    // A's first step, once
		`stackup_steps_total{state="succeeded"} 9`, // A: 8; B: 1
	} {
		assert.Contains(t, ours.String(), line+"\n")
	}
}
