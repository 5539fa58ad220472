package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeStopsListeningAtInterrupt: on the first interrupt serve stops
// listening, as its documentation says, while the running step has its
// grace to finish: a new client cannot connect (and take the server for
// up, or have requests planned), and serve then exits 0 once the step has
// finished.
func TestServeStopsListeningAtInterrupt(t *testing.T) {
	t.Setenv("STACKUP_TOKEN", testToken)
	dir := t.TempDir()
	started, release := filepath.Join(dir, "started"), filepath.Join(dir, "release")
	e := newApplyEnv(t)
	args := []string{"serve", "--topology", e.topo, "--repo", e.repo, "--key", e.key, "--listen", "127.0.0.1:0",
		"--state-dir", filepath.Join(dir, "state"), "--grace", "1h",
		"--exec", `sh -c 'touch ` + started + `; while [ ! -e ` + release + ` ]; do sleep 0.01; done'`}
	stop := make(chan struct{})
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	exit := make(chan int, 1)
	go func() {
		exit <- run(withStop(t.Context(), stop), args, outW, errW)
		outW.Close()
		errW.Close()
	}()
	shuttingDown := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(errR)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `msg="shutting down"`) {
				close(shuttingDown)
			}
		}
		io.Copy(io.Discard, errR)
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	require.NoError(t, err)
	go io.Copy(io.Discard, outR)
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	require.True(t, ok, line)

	code, answer := call(t, http.MethodPost, url+"/v1/apply", testToken, requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	waitFile(t, started)
	close(stop)
	<-shuttingDown
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err == nil {
		conn.Close()
	}
	assert.Error(t, err, "serve still listens after the interrupt, while the running step has its grace")

	require.NoError(t, os.WriteFile(release, nil, 0o600))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a failure bound only
	defer cancel()
	select {
	case code := <-exit:
		assert.Equal(t, exitOK, code)
	case <-ctx.Done():
		t.Fatal("serve did not exit")
	}
}
