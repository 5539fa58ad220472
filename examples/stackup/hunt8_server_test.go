package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// TestHunt8CommandEnvironmentHasNoPostgresPasswords: PGPASSWORD and
// PGSSLPASSWORD, which libpq and pgx read the database's password (and
// that of the client key) from, are secrets of stackup's as the database
// URL is: a step command does not get them.
func TestHunt8CommandEnvironmentHasNoPostgresPasswords(t *testing.T) {
	t.Setenv("PGPASSWORD", "pg-password-that-must-not-leak")
	t.Setenv("PGSSLPASSWORD", "pg-key-password-that-must-not-leak")
	t.Setenv("STACKUP_TEST_ORDINARY", "kept")
	var out bytes.Buffer
	cmds, err := parseCommands("env", "", "")
	require.NoError(t, err)
	require.NoError(t, newRunner(cmds, &out, defaultGrace).Execute(t.Context(), withNode(hostileStep("x"), "-1")))
	env := strings.Split(out.String(), "\n")
	assert.Contains(t, env, "STACKUP_TEST_ORDINARY=kept", "the command saw stackup's environment")
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		assert.NotContains(t, []string{"PGPASSWORD", "PGSSLPASSWORD"}, name, "a database password reaches the command")
	}
	assert.NotContains(t, out.String(), "must-not-leak")
	assert.Contains(t, secretEnv, "PGPASSWORD")
	assert.Contains(t, secretEnv, "PGSSLPASSWORD")
}

// TestHunt8NoSniff: every answer, of every route, refused or not, says
// X-Content-Type-Options: nosniff, so that no browser takes a JSON error
// that echoes a client's text for a page or a script.
func TestHunt8NoSniff(t *testing.T) {
	ts := newTestServer(t, "true")
	id := ts.reviewed(t)
	auth := map[string]string{"Authorization": "Bearer " + testToken}
	for _, a := range []attack{
		{name: "healthz", method: "GET", path: "/healthz"},
		{name: "no-token", method: "GET", path: "/v1/runs"},
		{name: "runs", method: "GET", path: "/v1/runs", header: auth},
		{name: "plan", method: "GET", path: "/v1/plans/" + id, header: auth},
		{name: "plan-unknown", method: "GET", path: "/v1/plans/nothing", header: auth},
		{name: "no-route", method: "GET", path: "/nothing", header: auth},
		{name: "wrong-method", method: "DELETE", path: "/v1/runs", header: auth},
		{name: "wrong-host", method: "GET", path: "/v1/runs", header: map[string]string{"Host": "evil.example", "Authorization": "Bearer " + testToken}},
		{name: "bad-body", method: "POST", path: "/v1/plan", body: "<script>", header: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + testToken}},
		{name: "text-body", method: "POST", path: "/v1/plan", body: "<script>", header: map[string]string{"Content-Type": "text/plain", "Authorization": "Bearer " + testToken}},
	} {
		t.Run(a.name, func(t *testing.T) {
			_, header, _ := ts.send(t, a)
			assert.Equal(t, "nosniff", header.Get("X-Content-Type-Options"))
		})
	}
	for _, path := range []string{"/", "/metrics"} { // the dashboard and the metrics, not JSON
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.url+path, nil)
		require.NoError(t, err)
		resp, err := ts.client.Do(req)
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
	}
}

// TestHunt8EndedRunHasNoPendingSteps: a run that has ended says of the
// steps it never started "not_started", never "pending", which says they
// are still to come: one whose Run gave no report (its journal refused),
// and one that was running when its server stopped for good.
func TestHunt8EndedRunHasNoPendingSteps(t *testing.T) {
	t.Run("no-report", func(t *testing.T) {
		rs := newRunState(runRecord{Run: "R", State: runRunning, Steps: map[upgrade.StepID]string{"a": "succeeded", "b": stepPending, "c": stepRunning}})
		rs.end(nil, runFailed, fmt.Errorf("journal refused"), nil)
		assert.Equal(t, map[upgrade.StepID]string{"a": "succeeded", "b": "not_started", "c": stepInDoubt}, rs.status().Steps)
	})
	t.Run("restart", func(t *testing.T) {
		ts := newTestServer(t, "true")
		id := ts.reviewed(t)
		run := strings.Repeat("B", 26)
		started := time.Now().UTC()
		rec := runRecord{Run: run, Plan: id, State: runRunning, Total: 3, Started: started,
			Steps: map[upgrade.StepID]string{upgrade.StepID(allSteps[0]): "succeeded", upgrade.StepID(allSteps[1]): stepRunning, upgrade.StepID(allSteps[2]): stepPending}}
		require.NoError(t, ts.state.saveRun(&rec))
		ts.stop()
		again := startTestServer(t, ts.applyEnv, ts.stateDir, t.Context(), 0, "testdata/shop.yaml", "true", access{token: testToken}, ts.srv.log)
		code, status := again.get(t, "/v1/runs/"+run)
		require.Equal(t, http.StatusOK, code, status)
		assert.Equal(t, "interrupted", status["state"])
		assert.Equal(t, map[string]any{allSteps[0]: "succeeded", allSteps[1]: stepInDoubt, allSteps[2]: "not_started"}, status["steps"])
		data, err := os.ReadFile(filepath.Join(ts.stateDir, "runs", run+".json"))
		require.NoError(t, err)
		assert.NotContains(t, string(data), stepPending, "the record kept says so too")
	})
}
