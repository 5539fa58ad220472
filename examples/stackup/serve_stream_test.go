package main

import (
	"bufio"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeKeepAlive follows a run whose first step blocks, on the fake
// clock: the stream sends a keep-alive comment after each keepAlive
// without an event, and none before; events carry the time they
// happened.
func TestServeKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		var ran atomic.Int32
		_, _, client := bubbleServer(t, gate, &ran)
		start := time.Now()
		resp, err := client.Post("http://127.0.0.1/v1/apply", "application/json", strings.NewReader(requestBody(t, "testdata/requests.json")))
		require.NoError(t, err)
		answer := decodeJSON(t, resp)
		resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode, answer)

		resp, err = client.Get("http://127.0.0.1" + answer["events"].(string))
		require.NoError(t, err)
		defer resp.Body.Close()
		lines := make(chan string, 1000)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		// read returns the lines received so far.
		read := func() []string {
			synctest.Wait()
			var got []string
			for {
				select {
				case line, ok := <-lines:
					if !ok {
						return got
					}
					got = append(got, line)
				default:
					return got
				}
			}
		}
		got := read()
		require.Len(t, got, 4, "%q", got) // id, event, data, blank
		assert.Equal(t, "event: step", got[1])
		assert.Contains(t, got[2], `"kind":"started"`)
		assert.Contains(t, got[2], `"time":"`+start.UTC().Format("2006-01-02T15:04:05.000Z")+`"`)

		time.Sleep(keepAlive - time.Millisecond)
		assert.Empty(t, read(), "no keep-alive before its time")
		time.Sleep(time.Millisecond)
		assert.Equal(t, []string{": keep-alive", ""}, read())
		time.Sleep(keepAlive)
		assert.Equal(t, []string{": keep-alive", ""}, read())

		close(gate)
		got = read()
		require.NotEmpty(t, got)
		assert.Equal(t, "event: done", got[len(got)-3], "%q", got)
		assert.Contains(t, got[len(got)-2], `"state":"succeeded"`)
		for _, line := range got {
			if data, ok := strings.CutPrefix(line, "data: "); ok && strings.Contains(data, `"kind"`) {
				assert.Contains(t, data, `"time":"`+start.Add(2*keepAlive).UTC().Format("2006-01-02T15:04:05.000Z")+`"`)
			}
		}
		assert.Equal(t, int32(len(allSteps)), ran.Load())
	})
}
