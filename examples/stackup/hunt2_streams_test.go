package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeStreamsBounded opens event streams on a running run up to the
// server's bound: one more is refused, 503 {"kind": "too_many_streams"},
// rather than each client with the token holding as many connections and
// goroutines as it likes; the streams open go on to the run's end.
func TestServeStreamsBounded(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	ts := newTestServer(t, `sh -c 'while [ ! -e "$1" ]; do sleep 0.02; done' sh `+gate)
	ts.srv.mu.Lock()
	ts.srv.maxStreams = 2
	ts.srv.mu.Unlock()
	code, answer := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	path := answer["events"].(string)

	var open []*http.Response
	for range 2 {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, ts.url+path, nil)
		require.NoError(t, err)
		resp, err := ts.client.Do(req) // returns once the server has answered 200: the stream is open
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		open = append(open, resp)
	}
	code, refused := ts.get(t, path)
	assert.Equal(t, http.StatusServiceUnavailable, code, refused)
	assert.Equal(t, "too_many_streams", refused["kind"])

	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	for _, resp := range open {
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Contains(t, string(data), "event: done\ndata: {\"run\"")
		assert.Contains(t, string(data), `"state":"succeeded"`)
	}
}
