package main

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// TestServeStreamLetsStuckClientGo follows a run's events from a client
// that sends its request and then reads nothing: the server does not wait
// for it for ever, but gives up on the stream once a write has waited
// too long, and closes the connection (else the stream's goroutine and
// connection are held until the server stops, which then waits for them
// and fails).
func TestServeStreamLetsStuckClientGo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		defer close(gate)
		var ran atomic.Int32
		hs, ln, client := bubbleServer(t, gate, &ran)
		resp, err := client.Post("http://127.0.0.1/v1/apply", "application/json", strings.NewReader(requestBody(t, "testdata/requests.json")))
		require.NoError(t, err)
		answer := decodeJSON(t, resp)
		resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode, answer)

		conn, err := ln.dial(t.Context(), "", "")
		require.NoError(t, err)
		defer conn.Close()
		_, err = io.WriteString(conn, "GET "+answer["events"].(string)+" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+testToken+"\r\n\r\n")
		require.NoError(t, err)
		time.Sleep(hs.WriteTimeout + 10*time.Minute) // the fake clock; the client reads nothing meanwhile
		synctest.Wait()

		closed := make(chan struct{})
		go func() {
			io.Copy(io.Discard, conn)
			close(closed)
		}()
		synctest.Wait()
		select {
		case <-closed:
		default:
			t.Fatal("the server still holds the stream of a client that stopped reading")
		}
	})
}
