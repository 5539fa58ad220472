package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHunt10JSONInOtherCharset posts requests whose Content-Type says
// JSON in a charset other than UTF-8: the server reads every body as
// UTF-8 (JSON's only encoding, RFC 8259), so it refuses them, 415, and
// plans and runs nothing, rather than read a Latin-1 body as UTF-8 and
// its bytes as other characters. JSON with charset=UTF-8, in any case,
// is taken.
func TestHunt10JSONInOtherCharset(t *testing.T) {
	exec, ran := marker(t)
	ts := newTestServer(t, exec)
	body := requestBody(t, "testdata/requests.json")
	var attacks []attack
	for _, path := range []string{"/v1/plans", "/v1/apply"} {
		for _, ct := range []string{"application/json; charset=iso-8859-1", "application/json; charset=utf-16", "application/json; charset=\"\""} {
			attacks = append(attacks, attack{name: path + " " + ct, method: "POST", path: path, body: body,
				header: map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": ct},
				status: http.StatusUnsupportedMediaType, kind: "unsupported_media_type",
				error: fmt.Sprintf("Content-Type %q is not application/json in UTF-8", ct)})
		}
	}
	checkAttacks(t, ts, ran, attacks)

	// The control.
	code, _, answer := ts.send(t, attack{method: "POST", path: "/v1/plans", body: body,
		header: map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "application/json; charset=UTF-8"}})
	require.Equal(t, http.StatusCreated, code, answer)
}

// TestHunt10EndedRunSavedEnded follows a run to its end, then reads its
// record in --state-dir at once, as a server restarted then would: it
// says the run ended, as the client was told, not running (which a
// restart takes for interrupted, and --resume runs again).
func TestHunt10EndedRunSavedEnded(t *testing.T) {
	ts := newTestServer(t, "true")
	run, done := applyToEnd(t, ts)
	require.Equal(t, "succeeded", done["state"], done)

	data, err := os.ReadFile(filepath.Join(ts.stateDir, "runs", run+".json"))
	require.NoError(t, err)
	var saved map[string]any
	require.NoError(t, json.Unmarshal(data, &saved))
	assert.Equal(t, "succeeded", saved["state"], "the record says what the client was told")
	assert.Equal(t, done["succeeded"], saved["succeeded"])
}

// applyToEnd applies testdata/requests.json on ts, follows the run to its
// end, and returns the run's ID and the status its last event gives.
func applyToEnd(t *testing.T, ts *testServer) (run string, done map[string]any) {
	t.Helper()
	code, ans := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, ans)
	run = ans["run"].(string)
	events := ts.follow(t, "/v1/runs/"+run+"/events", "")
	require.NoError(t, json.Unmarshal([]byte(events[len(events)-1].data), &done))
	return run, done
}
