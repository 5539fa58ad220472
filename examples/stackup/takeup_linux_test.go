package main

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeDatabaseRunTakenUpStepsPending: a database run that failed,
// taken up again by applying its plan again, reports, while it goes on,
// the steps that are to run again as pending (as a run of the server's
// own resumed does, see prepare), and the step that succeeded as
// succeeded: not the failed and skipped steps of the attempt that ended,
// neither at once nor once the server has read that attempt's events
// again from the database.
func TestServeDatabaseRunTakenUpStepsPending(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	ts := newDatabaseServer(t, e, db, schema)

	// The first attempt: the java steps succeed, tomcat-1's first fails.
	code, ans := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, ans)
	run, planID := ans["run"].(string), ans["plan"].(string)
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.failOn(allSteps[2]), "--plan", planID, "--poll", "50ms")
	events := ts.follow(t, "/v1/runs/"+run+"/events", "")
	require.Contains(t, events[len(events)-1].data, `"state":"failed"`)
	w.wait(t)
	_, ended := ts.get(t, "/v1/runs/"+run)
	require.Equal(t, "failed", ended["steps"].(map[string]any)[allSteps[2]], ended)
	firstAttempt := len(events) - 1 // its step events, "done" aside

	// Taken up again, with no worker yet: nothing of it runs.
	code, ans = ts.post(t, "/v1/plans/"+planID+"/apply", "")
	require.Equal(t, http.StatusAccepted, code, ans)
	require.Equal(t, run, ans["run"])
	check := func(when string) {
		t.Helper()
		_, status := ts.get(t, "/v1/runs/"+run)
		assert.Equal(t, runRunning, status["state"], when)
		steps := status["steps"].(map[string]any)
		for id, was := range ended["steps"].(map[string]any) {
			want := stepPending
			if was == "succeeded" {
				want = "succeeded"
			}
			assert.Equal(t, want, steps[id], "%s: step %s, %s before", when, id, was)
		}
		for _, count := range []string{"failed", "skipped", "rolled_back"} {
			assert.EqualValues(t, 0, status[count], "%s: %s", when, count)
		}
	}
	check("at once")
	// The server reads the run's events from the database again: once its
	// stream has sent the first attempt's, it has read them.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.url+"/v1/runs/"+run+"/events", nil)
	require.NoError(t, err)
	resp, err := ts.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	seen := 0
	for sc := bufio.NewScanner(resp.Body); seen < firstAttempt && sc.Scan(); {
		if strings.HasPrefix(sc.Text(), "event: step") {
			seen++
		}
	}
	require.Equal(t, firstAttempt, seen, "the first attempt's events, read again")
	cancel()
	check("its events read again")

	// The second attempt runs the steps not done, and succeeds.
	w = startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.record(), "--plan", planID, "--poll", "50ms")
	events = ts.follow(t, "/v1/runs/"+run+"/events", "")
	assert.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)
	require.NoError(t, w.cmd.Process.Kill())
	w.wait(t)
}
