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
