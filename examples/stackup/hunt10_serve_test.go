package main

import (
	"fmt"
	"net/http"
	"testing"

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
