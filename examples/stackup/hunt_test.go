package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestServeRequestBodyKeys posts bodies whose keys encoding/json would
// take without a word: a key given twice (the last would win) and a key
// in another case (encoding/json matches keys without regard to case).
// A request file refuses both; so must the server, naming the key, with
// nothing planned or run.
func TestServeRequestBodyKeys(t *testing.T) {
	ts := newTestServer(t, `sh -c 'echo "$1" >> "$2"' sh {{.ID}} LEDGER`)
	valid := requestBody(t, "testdata/requests.json")
	tests := []struct{ name, body, error string }{
		{"duplicate-application", strings.Replace(valid, `"application": "shop"`, `"application": "shop", "application": "billing"`, 1),
			`line 3: requests[0]: field "application" given twice`},
		{"duplicate-requests", strings.Replace(valid, `"requests": [`, `"requests": [], "requests": [`, 1),
			`line 2: the top level: field "requests" given twice`},
		{"duplicate-version", strings.Replace(valid, `"version": "2.0.0"`, `"version": "2.0.0", "version": "9.0.0"`, 1),
			`requests[0].template: field "version" given twice`},
		{"upper-case-field", strings.Replace(valid, `"application"`, `"Application"`, 1),
			`line 3: requests[0]: unknown field "Application"; known fields: application, replaces, template`},
		{"upper-case-top", strings.Replace(valid, `"requests"`, `"REQUESTS"`, 1),
			`line 2: the top level: unknown field "REQUESTS"; known fields: requests`},
		{"case-variant-twice", strings.Replace(valid, `"replaces": "shop_app"`, `"replaces": "shop_app", "Replaces": "billing_app"`, 1),
			`requests[0]: unknown field "Replaces"`},
	}
	before := snapshot(t, ts.stateDir)
	for _, tt := range tests {
		for _, path := range []string{"/v1/plan", "/v1/plans", "/v1/apply"} {
			t.Run(tt.name+path, func(t *testing.T) {
				code, answer := ts.post(t, path, tt.body)
				assert.Equal(t, http.StatusBadRequest, code, answer)
				assert.Equal(t, "invalid_request", answer["kind"])
				assert.Contains(t, answer["error"], tt.error)
			})
		}
	}
	assert.Zero(t, ts.runCount(), "no run was created")
	assert.Empty(t, ts.readLedger(t), "nothing ran")
	assert.Equal(t, before, snapshot(t, ts.stateDir), "no plan was kept")
}

// TestServeTrailingGarbage posts a valid body followed by what is not
// JSON: the error says that something follows the object, as it does for
// a second object, rather than only quoting the JSON decoder.
func TestServeTrailingGarbage(t *testing.T) {
	ts := newTestServer(t, `sh -c 'echo "$1" >> "$2"' sh {{.ID}} LEDGER`)
	valid := requestBody(t, "testdata/requests.json")
	for _, trailer := range []string{"x", "]", "}", `"more"`, "\x00", "{}"} {
		t.Run(trailer, func(t *testing.T) {
			code, answer := ts.post(t, "/v1/plans", valid+trailer)
			assert.Equal(t, http.StatusBadRequest, code, answer)
			assert.Equal(t, "invalid_request", answer["kind"])
			assert.Contains(t, answer["error"], "data after the JSON object")
		})
	}
	// Past the size limit, what follows is too much, not garbage.
	code, answer := ts.post(t, "/v1/plans", valid+strings.Repeat(" ", maxBody)+"x")
	assert.Equal(t, http.StatusRequestEntityTooLarge, code, answer)
	assert.Equal(t, "too_large", answer["kind"])
	assert.Zero(t, ts.runCount(), "no run was created")
	assert.Empty(t, ts.readLedger(t), "nothing ran")
}
