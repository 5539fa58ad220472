package main

import (
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"testing/cryptotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeStartNotSavedLeavesNoRun: a run whose record cannot be saved
// as it starts (here a directory where the record goes; a full disk or a
// read-only directory alike) is refused with 500 and runs nothing, and
// what its start left in the state directory (its journal, which comes
// first) is no run: the runs listed, a later apply of the same plan, and
// a server restarted on the directory with --resume know nothing of it.
func TestServeStartNotSavedLeavesNoRun(t *testing.T) {
	ts := newTestServer(t, `sh -c 'echo "$1 $2" >> "$3"' sh {{.ID}} {{.InDoubt}} LEDGER`)
	code, ans := ts.post(t, "/v1/plans", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusCreated, code, ans)
	planID := ans["id"].(string)

	// The run IDs are random: the next one is made known, and its
	// record's place taken.
	cryptotest.SetGlobalRandom(t, 1)
	id := rand.Text()
	cryptotest.SetGlobalRandom(t, 1)
	record := filepath.Join(ts.stateDir, "runs", id+".json")
	require.NoError(t, os.Mkdir(record, 0o700))
	code, ans = ts.post(t, "/v1/plans/"+planID+"/apply", "")
	require.Equal(t, http.StatusInternalServerError, code, ans)
	assert.Contains(t, ans["error"], id+".json")
	assert.Empty(t, ts.readLedger(t), "nothing ran")
	require.NoError(t, os.Remove(record))

	_, list := ts.get(t, "/v1/runs")
	assert.Empty(t, list["runs"])
	code, _ = ts.get(t, "/v1/runs/"+id)
	assert.Equal(t, http.StatusNotFound, code)

	code, ans = ts.post(t, "/v1/plans/"+planID+"/apply", "")
	require.Equal(t, http.StatusAccepted, code, ans)
	run := ans["run"].(string)
	assert.NotEqual(t, id, run)
	events := ts.follow(t, "/v1/runs/"+run+"/events", "")
	assert.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)
	assert.Equal(t, ledgerOf(allSteps...), ts.readLedger(t))

	ts.stop()
	again := startTestServer(t, ts.applyEnv, ts.stateDir, t.Context(), 0, "testdata/shop.yaml", ts.srv.rf.exec, access{token: testToken}, ts.srv.log)
	again.srv.resumeInterrupted()
	_, list = again.get(t, "/v1/runs")
	require.Len(t, list["runs"], 1)
	assert.Equal(t, run, list["runs"].([]any)[0].(map[string]any)["run"])
	again.srv.Close() // waits for any run resumed
	assert.Equal(t, ledgerOf(allSteps...), ts.readLedger(t), "nothing ran again")
}

// TestServeRecordNotSaved: a run whose end cannot be saved (its record's
// place taken, as a full disk would refuse it) ends all the same: nothing
// of it runs, and it says so; a resume whose record cannot be saved runs
// nothing and leaves the run as it was, ended, not running with nothing
// running it; once the record can be saved, the resume runs.
func TestServeRecordNotSaved(t *testing.T) {
	dir := t.TempDir()
	started, gate := filepath.Join(dir, "started"), filepath.Join(dir, "gate")
	ts := newTestServer(t, gatedExec(allSteps[2], started, gate))
	code, ans := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, ans)
	run := ans["run"].(string)
	waitFile(t, started)
	record := filepath.Join(ts.stateDir, "runs", run+".json")
	require.NoError(t, os.Remove(record))
	require.NoError(t, os.Mkdir(record, 0o700))

	code, ans = ts.post(t, "/v1/runs/"+run+"/cancel", "")
	require.Equal(t, http.StatusAccepted, code, ans)
	events := ts.follow(t, "/v1/runs/"+run+"/events", "")
	assert.Contains(t, events[len(events)-1].data, `"state":"cancelled"`)
	ended := func() {
		t.Helper()
		_, status := ts.get(t, "/v1/runs/"+run)
		assert.Equal(t, runCancelled, status["state"])
		assert.Equal(t, stepInDoubt, status["steps"].(map[string]any)[allSteps[2]])
		code, ans := ts.post(t, "/v1/runs/"+run+"/cancel", "")
		assert.Equal(t, http.StatusConflict, code, ans)
		assert.Equal(t, "not_running", ans["kind"])
	}
	ended()

	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	code, ans = ts.post(t, "/v1/runs/"+run+"/resume", "")
	assert.Equal(t, http.StatusInternalServerError, code, ans)
	assert.Contains(t, ans["error"], run+".json")
	ended()
	assert.Equal(t, ledgerOf(allSteps[:3]...), ts.readLedger(t), "nothing ran after the cancel")

	require.NoError(t, os.Remove(record))
	code, ans = ts.post(t, "/v1/runs/"+run+"/resume", "")
	require.Equal(t, http.StatusAccepted, code, ans)
	events = ts.follow(t, "/v1/runs/"+run+"/events", "")
	assert.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)
	assert.Equal(t, ledgerOf(allSteps[:3]...)+allSteps[2]+" true\n"+ledgerOf(allSteps[3:]...), ts.readLedger(t))
}
