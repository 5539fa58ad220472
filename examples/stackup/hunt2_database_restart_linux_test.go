package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeDatabaseRestartCountsNoOldEvents: a server stops while a
// database run goes on, and the run finishes meanwhile; a new server on
// the same state directory follows it again, reading its events from the
// first, but its metrics (step events since it started) count none of
// them: they came before it started, counted by the server before it.
func TestServeDatabaseRestartCountsNoOldEvents(t *testing.T) {
	db := testDatabase(t)
	schema := testSchema()
	e := newApplyEnv(t)
	stateDir := filepath.Join(t.TempDir(), "state")
	started, release := filepath.Join(e.dir, "started"), filepath.Join(e.dir, "release")
	w := startChild(t, "worker", "--database", db, "--database-schema", schema, "--exec", e.blockingStep(started, release), "--poll", "50ms")
	ts1 := newDatabaseServerIn(t, e, db, schema, stateDir)
	code, ans := ts1.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, ans)
	run, planID := ans["run"].(string), ans["plan"].(string)
	waitFile(t, started)
	ts1.stop()
	require.NoError(t, os.WriteFile(release, nil, 0o644))
	st, err := openStore(t, db, schema).Wait(t.Context(), planID, 20*time.Millisecond)
	require.NoError(t, err)
	require.NoError(t, st.Err)
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	w.wait(t)

	ts2 := newDatabaseServerIn(t, e, db, schema, stateDir)
	events := ts2.follow(t, "/v1/runs/"+run+"/events", "")
	require.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)
	require.Len(t, events, 2*len(allSteps)+1, "every event read again")
	resp, err := ts2.client.Get(ts2.url + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var ours strings.Builder
	for _, line := range strings.SplitAfter(string(body), "\n") {
		if strings.HasPrefix(line, "stackup_steps_total") || strings.HasPrefix(line, "stackup_step_duration_seconds_count") {
			ours.WriteString(line)
		}
	}
	assert.Equal(t, "stackup_step_duration_seconds_count 0\n", ours.String(), "no step event counted")
	code, _ = ts2.get(t, "/v1/runs/"+run)
	assert.Equal(t, http.StatusOK, code)
}
