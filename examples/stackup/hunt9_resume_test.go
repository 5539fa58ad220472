package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHunt9ResumeNotSavedStaysEnded: a resume whose run record cannot be
// saved (a directory planted under its name, as a full disk would fail
// it) is refused, and the run stays as it was, failed: it is not left
// "running" with nothing running it, which no cancel could end and no
// resume take up again. Once the record can be saved, the resume starts.
func TestHunt9ResumeNotSavedStaysEnded(t *testing.T) {
	ts := newTestServer(t, "false") // every step fails
	run, done := applyToEnd(t, ts)
	require.Equal(t, "failed", done["state"], done)

	record := filepath.Join(ts.stateDir, "runs", run+".json")
	require.NoError(t, os.Remove(record))
	require.NoError(t, os.Mkdir(record, 0o700))
	code, ans := ts.post(t, "/v1/runs/"+run+"/resume", "")
	assert.Equal(t, http.StatusInternalServerError, code, ans)
	code, status := ts.get(t, "/v1/runs/"+run)
	require.Equal(t, http.StatusOK, code, status)
	assert.Equal(t, "failed", status["state"], "the resume did not start: the run is as it was")
	assert.Equal(t, done["error"], status["error"])

	require.NoError(t, os.Remove(record))
	code, ans = ts.post(t, "/v1/runs/"+run+"/resume", "")
	require.Equal(t, http.StatusAccepted, code, ans)
	events := ts.follow(t, "/v1/runs/"+run+"/events", "")
	require.NoError(t, json.Unmarshal([]byte(events[len(events)-1].data), &done))
	assert.Equal(t, "failed", done["state"], "resumed, and failed again: %v", done)
}
