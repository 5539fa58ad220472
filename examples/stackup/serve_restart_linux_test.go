package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeKilledResumes kills a serve process (SIGKILL) while a step
// runs, then starts serve again on the same state directory with
// --resume: the run, interrupted, resumes by itself, offers the step that
// was running again in doubt, and runs none of the steps done again.
func TestServeKilledResumes(t *testing.T) {
	dir := t.TempDir()
	started, gate := filepath.Join(dir, "started"), filepath.Join(dir, "gate")
	e := newApplyEnv(t)
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(testToken), 0o600))
	args := []string{"serve", "--listen", "127.0.0.1:0", "--topology", e.topo, "--repo", e.repo, "--key", e.key,
		"--token-file", tokenFile, "--state-dir", filepath.Join(dir, "state"),
		"--exec", strings.ReplaceAll(gatedExec(allSteps[3], started, gate), "LEDGER", e.ledger)}

	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = childEnv(t)
	cmd.Stderr = io.Discard
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	require.True(t, ok, line)
	client := &http.Client{Timeout: 20 * time.Second, Transport: bearer{testToken, http.DefaultTransport}}
	defer client.CloseIdleConnections()
	resp, err := client.Post(url+"/v1/apply", "application/json", strings.NewReader(requestBody(t, "testdata/requests.json")))
	require.NoError(t, err)
	answer := decodeJSON(t, resp)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, answer)
	run := answer["run"].(string)
	waitFile(t, started)

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()
	client.CloseIdleConnections()
	require.NoError(t, os.WriteFile(gate, nil, 0o600))

	url, _, stop := startServe(t, append(args, "--resume"))
	ts := &testServer{url: url, client: client}
	events := ts.follow(t, "/v1/runs/"+run+"/events", "")
	var done map[string]any
	require.NoError(t, json.Unmarshal([]byte(events[len(events)-1].data), &done))
	assert.Equal(t, "succeeded", done["state"], done)
	assert.Equal(t, float64(len(allSteps)), done["succeeded"])
	assert.Equal(t, events[0].data[:strings.Index(events[0].data, `"time"`)],
		`{"kind":"started","step":"`+allSteps[3]+`","node":"tomcat-1","done":3,"total":8,`, "the step that ran is offered first")
	assert.Contains(t, events[0].data, `"in_doubt":true`)
	ledger, err := os.ReadFile(e.ledger)
	require.NoError(t, err)
	assert.Equal(t, ledgerOf(allSteps[:4]...)+allSteps[3]+" true\n"+ledgerOf(allSteps[4:]...), string(ledger),
		"the steps done ran once; the one killed again, in doubt")

	code, list := ts.get(t, "/v1/runs")
	require.Equal(t, http.StatusOK, code)
	require.Len(t, list["runs"], 1)
	code, _ = stop()
	assert.Equal(t, exitOK, code)
}
