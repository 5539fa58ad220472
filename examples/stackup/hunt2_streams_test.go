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

// gatedRun starts a server that keeps maxStreams event streams, and on it
// a run whose steps wait until the file gate exists; it returns the
// server, the path of the run's events and the gate.
func gatedRun(t *testing.T, maxStreams int) (ts *testServer, path, gate string) {
	t.Helper()
	gate = filepath.Join(t.TempDir(), "gate")
	ts = newTestServer(t, `sh -c 'while [ ! -e "$1" ]; do sleep 0.02; done' sh `+gate)
	ts.srv.mu.Lock()
	ts.srv.maxStreams = maxStreams
	ts.srv.mu.Unlock()
	code, answer := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	return ts, answer["events"].(string), gate
}

// TestServeStreamsBounded opens event streams on a running run up to the
// server's bound: one more is refused, 503 {"kind": "too_many_streams"},
// rather than each client with the token holding as many connections and
// goroutines as it likes; the streams open go on to the run's end.
func TestServeStreamsBounded(t *testing.T) {
	ts, path, gate := gatedRun(t, 2)

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

// TestServeEventsHeadHoldsNoStream: HEAD on a run's events answers the
// headers of a stream and ends, holding none of the server's streams:
// with a bound of one, HEADs in turn leave the one stream for a GET.
func TestServeEventsHeadHoldsNoStream(t *testing.T) {
	ts, path, gate := gatedRun(t, 1)

	for range 3 {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodHead, ts.url+path, nil)
		require.NoError(t, err)
		resp, err := ts.client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	}
	ts.srv.mu.Lock()
	streams := ts.srv.streams
	ts.srv.mu.Unlock()
	assert.Zero(t, streams, "a HEAD holds a stream")

	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, ts.url+path, nil)
	require.NoError(t, err)
	resp, err := ts.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "the one stream is free")
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, string(data), "event: done")
}
