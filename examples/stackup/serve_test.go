package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testServer is a deployment server on a loopback port, with a real
// client.
type testServer struct {
	*applyEnv
	srv      *server
	hs       *httptest.Server
	stateDir string
	state    *stateStore
	url      string
	client   *http.Client
}

// stop shuts the server down as its process would end: its runs, its HTTP
// server, and its hold on the state directory.
func (ts *testServer) stop() {
	ts.srv.Close()
	ts.hs.Close()
	ts.state.Close()
}

// newTestServer starts a server whose steps run exec (a template, in which
// LEDGER stands for the ledger file). Cleanup shuts it down: runs first,
// then the HTTP server, then the client's connections.
func newTestServer(t *testing.T, exec string) *testServer {
	t.Helper()
	return newTestServerOn(t, "testdata/shop.yaml", exec)
}

// newTestServerOn is newTestServer with another topology file.
func newTestServerOn(t *testing.T, topology, exec string) *testServer {
	t.Helper()
	return newTestServerWith(t, topology, exec, access{token: testToken})
}

// newTestServerWith is newTestServerOn with acc, whose token the client
// sends.
func newTestServerWith(t *testing.T, topology, exec string, acc access) *testServer {
	t.Helper()
	return newTestServerLog(t, topology, exec, acc, slog.New(slog.DiscardHandler))
}

// newTestServerLog is newTestServerWith with the server's log.
func newTestServerLog(t *testing.T, topology, exec string, acc access, log *slog.Logger) *testServer {
	t.Helper()
	return newTestServerCtx(t, t.Context(), 0, topology, exec, acc, log)
}

// newTestServerCtx is newTestServerLog with the server's context and
// grace period.
func newTestServerCtx(t *testing.T, ctx context.Context, grace time.Duration, topology, exec string, acc access, log *slog.Logger) *testServer {
	t.Helper()
	return startTestServer(t, newApplyEnv(t), filepath.Join(t.TempDir(), "state"), ctx, grace, topology, exec, acc, log)
}

// startTestServer is newTestServerCtx with the repository and ledger of e
// and the state directory stateDir.
func startTestServer(t *testing.T, e *applyEnv, stateDir string, ctx context.Context, grace time.Duration, topology, exec string, acc access, log *slog.Logger) *testServer {
	t.Helper()
	in := inputFlags{topology: topology, repo: e.repo, keys: stringList{e.key}, policy: "newest"}
	env, err := in.load(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { env.Close() })
	rf := runFlags{exec: strings.ReplaceAll(exec, "LEDGER", e.ledger), concurrency: 1, grace: grace}
	require.NoError(t, rf.check())
	state, err := openStateDir(stateDir)
	require.NoError(t, err)
	t.Cleanup(func() { state.Close() })
	srv, err := newServer(ctx, env, &rf, acc, state, io.Discard, log)
	require.NoError(t, err)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	t.Cleanup(srv.Close) // before hs.Close, which waits for the event streams
	client := &http.Client{Timeout: 20 * time.Second, Transport: bearer{acc.token, http.DefaultTransport}}
	t.Cleanup(client.CloseIdleConnections)
	return &testServer{applyEnv: e, srv: srv, hs: hs, stateDir: stateDir, state: state, url: hs.URL, client: client}
}

// testToken is the test servers' token.
const testToken = "test-token-0123456789abcdef"

// bearer is a transport that sends a bearer token with every request.
type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(req)
}

// post posts body to path and returns the status and the decoded JSON
// answer.
func (ts *testServer) post(t *testing.T, path, body string) (int, map[string]any) {
	t.Helper()
	resp, err := ts.client.Post(ts.url+path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode, decodeJSON(t, resp)
}

func (ts *testServer) get(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	resp, err := ts.client.Get(ts.url + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode, decodeJSON(t, resp)
}

func decodeJSON(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), "body: %s", data)
	var v map[string]any
	require.NoError(t, json.Unmarshal(data, &v), "body: %s", data)
	return v
}

// sse is one server-sent event.
type sse struct {
	id, event, data string
}

// follow reads the event stream at path, with Last-Event-ID last unless
// empty, up to and including the "done" event, and returns the events.
func (ts *testServer) follow(t *testing.T, path, last string) []sse {
	t.Helper()
	events, err := ts.events(t.Context(), path, last)
	require.NoError(t, err)
	return events
}

// events is follow for any goroutine.
func (ts *testServer) events(ctx context.Context, path, last string) ([]sse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.url+path, nil)
	if err != nil {
		return nil, err
	}
	if last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		return nil, fmt.Errorf("%s: %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	var events []sse
	var cur sse
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			events = append(events, cur)
			if cur.event == "done" {
				return events, nil
			}
			cur = sse{}
			continue
		}
		field, value, _ := strings.Cut(line, ": ")
		switch field {
		case "id":
			cur.id = value
		case "event":
			cur.event = value
		case "data":
			cur.data = value
		}
	}
	return events, fmt.Errorf("the stream ended without a done event (%v) after %v", sc.Err(), events)
}

func requestBody(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	return string(data)
}

func TestServePlan(t *testing.T) {
	ts := newTestServer(t, "true")
	resp, err := ts.client.Post(ts.url+"/v1/plan", "application/json", strings.NewReader(requestBody(t, "testdata/requests.json")))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var plan struct {
		Schema string `json:"schema"`
		ID     string `json:"id"`
		Steps  []struct {
			ID string `json:"id"`
		} `json:"steps"`
	}
	require.NoError(t, json.Unmarshal(body, &plan))
	assert.Equal(t, "stackup.plan/v3", plan.Schema)
	require.Len(t, plan.Steps, len(allSteps))
	for i, s := range plan.Steps {
		assert.Equal(t, allSteps[i], s.ID)
	}
	// The same plan as the command line's, byte for byte.
	r := stackup(t, "plan", "--topology", "testdata/shop.yaml", "--repo", ts.repo, "--requests", "testdata/requests.yaml", "--format", "json")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, r.stdout, string(body))
	assert.Empty(t, ts.readLedger(t), "planning runs nothing")
}

func TestServeApply(t *testing.T) {
	ts := newTestServer(t, `sh -c 'echo "$1 $2" >> "$3"' sh {{.ID}} {{.InDoubt}} LEDGER`)
	code, answer := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	id, _ := answer["run"].(string)
	require.NotEmpty(t, id)
	assert.Equal(t, "/v1/runs/"+id+"/events", answer["events"])
	assert.Contains(t, answer["plan"], "sha256:")

	events := ts.follow(t, answer["events"].(string), "")
	require.Len(t, events, 2*len(allSteps)+1, "a start and an end per step, then done")
	for i, ev := range events[:len(events)-1] {
		var data map[string]any
		require.NoError(t, json.Unmarshal([]byte(ev.data), &data))
		assert.Equal(t, "step", ev.event)
		assert.Regexp(t, fmt.Sprintf("^[A-Z2-7]{8}-%d$", i+1), ev.id)
		assert.Equal(t, allSteps[i/2], data["step"])
		assert.Equal(t, []string{"started", "succeeded"}[i%2], data["kind"])
		assert.Equal(t, float64((i+1)/2), data["done"])
		assert.Equal(t, float64(len(allSteps)), data["total"])
		assert.NotContains(t, data, "error")
	}
	var done map[string]any
	require.NoError(t, json.Unmarshal([]byte(events[len(events)-1].data), &done))
	assert.Equal(t, "succeeded", done["state"])
	assert.Equal(t, float64(len(allSteps)), done["succeeded"])
	assert.Equal(t, id, done["run"])
	assert.Equal(t, ledgerOf(allSteps...), ts.readLedger(t))

	code, status := ts.get(t, "/v1/runs/"+id)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, done, status, "the status is the done event's")

	// Following an ended run replays it; Last-Event-ID skips what was seen.
	assert.Equal(t, events, ts.follow(t, answer["events"].(string), ""))
	assert.Equal(t, events[10:], ts.follow(t, answer["events"].(string), events[9].id))
}

func TestServeFailedRun(t *testing.T) {
	ts := newTestServer(t, `sh -c 'if [ "$1" = tomcat-2 ]; then echo "disk full" >&2; exit 1; fi' sh {{.Node}}`)
	code, answer := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	events := ts.follow(t, answer["events"].(string), "")
	var failed, done map[string]any
	for _, ev := range events {
		if strings.Contains(ev.data, `"kind":"failed"`) {
			require.NoError(t, json.Unmarshal([]byte(ev.data), &failed))
		}
	}
	require.NoError(t, json.Unmarshal([]byte(events[len(events)-1].data), &done))
	assert.Equal(t, "platform/tomcat-2@9.0.98", failed["step"])
	assert.Equal(t, "execute command: exit status 1: disk full", failed["error"])
	assert.Equal(t, "failed", done["state"])
	assert.Equal(t, float64(1), done["failed"])
	assert.Equal(t, float64(2), done["skipped"])
	assert.Equal(t, float64(4), done["succeeded"])
	assert.Contains(t, done["error"], "disk full")
}

func TestServeRefusals(t *testing.T) {
	ts := newTestServer(t, `sh -c 'echo "$1" >> "$2"' sh {{.ID}} LEDGER`)
	valid := requestBody(t, "testdata/requests.json")
	tests := []struct {
		name, body string
		status     int
		kind       string
		error      string
	}{
		{"malformed", `{"requests": [`, http.StatusBadRequest, "invalid_request", "unexpected EOF"},
		{"not-an-object", `[1, 2]`, http.StatusBadRequest, "invalid_request", "the top level: want fields (requests), got a list"},
		{"unknown-field", `{"requests": [{"application": "shop", "replace": "shop_app"}]}`, http.StatusBadRequest, "invalid_request", `unknown field "replace"`},
		{"bad-version", strings.Replace(valid, `"2.0.0"`, `"two"`, 1), http.StatusBadRequest, "invalid_request", "requests[0] (shop): template.version"},
		{"bad-constraint", strings.Replace(valid, `">=10.1, <11"`, `">= ten"`, 1), http.StatusBadRequest, "invalid_request", "template.requirements[0].constraint"},
		{"bad-relation", strings.Replace(valid, `"hosted_on"`, `"runs_on"`, 1), http.StatusBadRequest, "invalid_request", `relation: "runs_on"`},
		{"wrong-type-in-batch", strings.Replace(valid, `"requests": [{`, `"requests": [{"application": "billing", "replaces": "billing_app", "template": {"id": "billing_app", "type": "webapp", "version": "3.3.0"}},
			{"application": 5, "replaces": "x", "template": {"id": "x", "type": "webapp", "version": "1.0.0"}}, {`, 1),
			http.StatusBadRequest, "invalid_request", "requests[1].application: want a string, got the number 5"},
		{"no-requests", `{"requests": []}`, http.StatusBadRequest, "invalid_request", "no requests"},
		{"empty", ``, http.StatusBadRequest, "invalid_request", "empty body"},
		{"trailing-data", valid + `{}`, http.StatusBadRequest, "invalid_request", "data after the JSON object"},
		{"oversized", `{"requests": [], "padding": "` + strings.Repeat("x", maxBody) + `"}`, http.StatusRequestEntityTooLarge, "too_large", "larger than 1048576 bytes"},
		{"yaml", requestBody(t, "testdata/requests-conflict.yaml"), http.StatusBadRequest, "invalid_request", "invalid character '#'"},
		{"conflict-json", `{"requests": [{"application": "shop", "replaces": "shop_app", "template": {"id": "shop_app", "type": "webapp", "version": "3.0.0",
			"requirements": [{"template": "tomcat_server", "constraint": ">=11"}]}}]}`, http.StatusUnprocessableEntity, "conflict", "node billing-1 (billing) requires >=8.5.50, <11"},
		{"no-path", `{"requests": [{"application": "shop", "replaces": "shop_app", "template": {"id": "shop_app", "type": "webapp", "version": "2.1.0",
			"requirements": [{"template": "ubuntu_os", "constraint": ">=22.04"}]}}]}`, http.StatusUnprocessableEntity, "no_upgrade_path", `node "vm-1" (ubuntu 18.04): no upgrade path`},
		{"unknown-app", `{"requests": [{"application": "warehouse", "replaces": "w", "template": {"id": "w", "type": "webapp", "version": "1.0.0"}}]}`,
			http.StatusUnprocessableEntity, "not_found", `application "warehouse" not found`},
		// Hostile identifiers in a request body are refused before anything is planned or run.
		{"hostile-application", strings.Replace(valid, `"application": "shop"`, `"application": "shop$(touch pwned)"`, 1),
			http.StatusBadRequest, "invalid_request", `application "shop$(touch pwned)": character '$'`},
		{"hostile-template", strings.Replace(valid, `"tomcat_server"`, `"tomcat_server\nFAKE"`, 1),
			http.StatusBadRequest, "invalid_request", `"tomcat_server\nFAKE": character '\n'`},
	}
	for _, tt := range tests {
		for _, path := range []string{"/v1/plan", "/v1/apply"} {
			t.Run(tt.name+path, func(t *testing.T) {
				code, answer := ts.post(t, path, tt.body)
				assert.Equal(t, tt.status, code, answer)
				assert.Equal(t, tt.kind, answer["kind"])
				assert.Contains(t, answer["error"], tt.error)
			})
		}
	}
	for _, path := range []string{"/v1/runs/nope", "/v1/runs/nope/events"} {
		code, answer := ts.get(t, path)
		assert.Equal(t, http.StatusNotFound, code, path)
		assert.Equal(t, `no run "nope"`, answer["error"])
	}
	resp, err := ts.client.Get(ts.url + "/v1/plan")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Empty(t, ts.readLedger(t), "nothing ran")
}

// TestServeRepositoryDown plans while the package repository, read over
// HTTP, answers 503, then has no index, then is gone: each time 502
// {"kind": "repository"}, naming the repository's answer, and nothing runs.
func TestServeRepositoryDown(t *testing.T) {
	e := newApplyEnv(t)
	var status atomic.Int32 // the repository's answer; 0: its files
	files := http.FileServer(http.Dir(e.repo))
	repo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code := int(status.Load()); code != 0 {
			http.Error(w, http.StatusText(code), code)
			return
		}
		files.ServeHTTP(w, r)
	}))
	defer repo.Close()
	local := *e
	local.repo = repo.URL + "/"
	ts := startTestServer(t, &local, filepath.Join(t.TempDir(), "state"), t.Context(), 0, "testdata/shop.yaml", `sh -c 'echo "$1" >> "$2"' sh {{.ID}} LEDGER`, access{token: testToken}, slog.New(slog.DiscardHandler))
	body := requestBody(t, "testdata/requests.json")
	code, answer := ts.post(t, "/v1/plan", body)
	require.Equal(t, http.StatusOK, code, "the repository is up: %v", answer)

	check := func(t *testing.T, error string) {
		t.Helper()
		for _, path := range []string{"/v1/plan", "/v1/plans", "/v1/apply"} {
			code, answer := ts.post(t, path, body)
			assert.Equal(t, http.StatusBadGateway, code, "%s: %v", path, answer)
			assert.Equal(t, "repository", answer["kind"], path)
			assert.Contains(t, answer["error"], error, path)
		}
	}
	status.Store(http.StatusServiceUnavailable)
	t.Run("503", func(t *testing.T) { check(t, "503 Service Unavailable") })
	status.Store(http.StatusNotFound)
	t.Run("no-index", func(t *testing.T) { check(t, "no index") })
	repo.Close()
	t.Run("closed", func(t *testing.T) { check(t, "connection refused") })
	assert.Zero(t, ts.runCount())
	assert.Empty(t, ts.readLedger(t), "nothing ran")
}

// TestServeBusy applies twice while the first run waits on a gate file:
// the second is refused, while one for another application goes ahead.
func TestServeBusy(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	ts := newTestServer(t, `sh -c 'while [ ! -e "$1" ]; do sleep 0.02; done; echo "$2" >> "$3"' sh `+gate+` {{.ID}} LEDGER`)
	body := requestBody(t, "testdata/requests.json")
	code, first := ts.post(t, "/v1/apply", body)
	require.Equal(t, http.StatusAccepted, code, first)

	code, second := ts.post(t, "/v1/apply", body)
	assert.Equal(t, http.StatusConflict, code, second)
	assert.Equal(t, "busy", second["kind"])
	assert.Equal(t, first["run"], second["run"])
	assert.Contains(t, second["error"], `application "shop" is being upgraded by run `+first["run"].(string))

	// Another application is not held up: billing 3.3.0 runs on the
	// Tomcat it has, so its plan changes only billing-1.
	billing := `{"requests": [{"application": "billing", "replaces": "billing_app", "template": {"id": "billing_app", "type": "webapp",
		"version": "3.3.0", "requirements": [{"template": "tomcat_server", "constraint": ">=8.5.50"}]}}]}`
	code, other := ts.post(t, "/v1/apply", billing)
	assert.Equal(t, http.StatusAccepted, code, other)

	code, plan := ts.post(t, "/v1/plan", body)
	assert.Equal(t, http.StatusOK, code, "planning does not wait for runs")
	assert.Equal(t, first["plan"], plan["id"])

	code, status := ts.get(t, "/v1/runs/"+first["run"].(string))
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "running", status["state"])

	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	events := ts.follow(t, first["events"].(string), "")
	assert.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)
	events = ts.follow(t, other["events"].(string), "")
	assert.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)
	code, again := ts.post(t, "/v1/apply", body)
	assert.Equal(t, http.StatusAccepted, code, "the application is free again: %v", again)
	ts.follow(t, again["events"].(string), "")
	assert.Equal(t, 2*len(allSteps)+1, strings.Count(ts.readLedger(t), "\n"), "each run ran every step once")
	assert.Equal(t, 1, strings.Count(ts.readLedger(t), "app/billing-1@3.3.0\n"))
}

// sharedTomcat is a deployment in which two applications run on a Tomcat
// that a third owns.
const sharedTomcat = `schema: stackup.topology/v1
applications:
  - id: middleware
    templates:
      - {id: tomcat_server, type: tomcat, version: 9.0.98}
      - {id: java_runtime, type: jdk, version: 17.0.13}
    nodes:
      - {id: java-1, template: java_runtime}
      - {id: tomcat-1, template: tomcat_server, relationships: [{relation: hosted_on, target: java-1}]}
  - id: shop
    templates:
      - {id: shop_app, type: webapp, version: 1.4.0}
    nodes:
      - {id: shop-1, template: shop_app, relationships: [{relation: hosted_on, target: tomcat-1}]}
  - id: billing
    templates:
      - {id: billing_app, type: webapp, version: 3.2.0}
    nodes:
      - {id: billing-1, template: billing_app, relationships: [{relation: hosted_on, target: tomcat-1}]}
`

// TestServeBusyPlatform applies for two applications whose plans upgrade
// one shared node: the second waits for the first, though it names
// another application.
func TestServeBusyPlatform(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "shared.yaml")
	require.NoError(t, os.WriteFile(topo, []byte(sharedTomcat), 0o644))
	gate := filepath.Join(dir, "gate")
	ts := newTestServerOn(t, topo, `sh -c 'while [ ! -e "$1" ]; do sleep 0.02; done' sh `+gate)
	request := func(app, template string) string {
		return `{"requests": [{"application": "` + app + `", "replaces": "` + template + `", "template": {"id": "` + template + `",
			"type": "webapp", "version": "5.0.0", "requirements": [{"template": "tomcat_server", "constraint": ">=10"}]}}]}`
	}
	code, shop := ts.post(t, "/v1/apply", request("shop", "shop_app"))
	require.Equal(t, http.StatusAccepted, code, shop)
	code, billing := ts.post(t, "/v1/apply", request("billing", "billing_app"))
	assert.Equal(t, http.StatusConflict, code, billing)
	assert.Equal(t, shop["run"], billing["run"])
	assert.Contains(t, billing["error"], `application "middleware" is being upgraded`)
	_, status := ts.get(t, "/v1/runs/"+shop["run"].(string))
	assert.Equal(t, []any{"middleware", "shop"}, status["applications"])
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	ts.follow(t, shop["events"].(string), "")
}

// TestServeClose shuts the server down while a run hangs: the run is
// cancelled, its stream ends with a failed run, and applies are refused.
func TestServeClose(t *testing.T) {
	started := filepath.Join(t.TempDir(), "started")
	ts := newTestServer(t, `sh -c 'touch `+started+`; sleep 30'`)
	code, answer := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	got := make(chan []sse, 1)
	go func() {
		events, err := ts.events(t.Context(), answer["events"].(string), "")
		assert.NoError(t, err)
		got <- events
	}()
	// The first step's command has started.
	require.Eventually(t, func() bool { _, err := os.Stat(started); return err == nil }, 20*time.Second, 10*time.Millisecond)
	closed := make(chan struct{})
	go func() {
		ts.srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(20 * time.Second): // a failure bound only; the command sleeps 30s
		t.Fatal("Close waits for the command: it was not stopped")
	}
	select {
	case events := <-got:
		require.NotEmpty(t, events)
		var done map[string]any
		require.NoError(t, json.Unmarshal([]byte(events[len(events)-1].data), &done))
		assert.Equal(t, "interrupted", done["state"], "a run the server's stop ends can be resumed")
		assert.Equal(t, "context canceled; resume it with POST /v1/runs/"+answer["run"].(string)+"/resume", done["error"])
	case <-time.After(20 * time.Second): // a failure bound only
		t.Fatal("the event stream did not end")
	}
	code, refused := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "shutting_down", refused["kind"])
}

// TestServeCommand runs the serve command on a free loopback port, plans
// through it, and stops it as SIGINT would.
func TestServeCommand(t *testing.T) {
	e := newApplyEnv(t)
	tokenFile := filepath.Join(e.dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--topology", e.topo, "--repo", e.repo,
			"--key", e.key, "--exec", e.record(), "--token-file", tokenFile, "--state-dir", filepath.Join(e.dir, "state")}, pw, &stderr)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil { // serve ended: reading stderr is safe
		t.Fatalf("serve did not start: exit %d, stderr: %s", <-exit, stderr.String())
	}
	go io.Copy(io.Discard, pr)
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	require.True(t, ok, line)

	client := &http.Client{Timeout: 10 * time.Second, Transport: bearer{testToken, http.DefaultTransport}}
	defer client.CloseIdleConnections()
	resp, err := client.Post(url+"/v1/plan", "application/json", strings.NewReader(requestBody(t, "testdata/requests.json")))
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// Plan, apply, and plan again: the inventory learnt every step's
	// version, in the topology file, and the server plans from it.
	post := func(path, body string) map[string]any {
		t.Helper()
		resp, err := client.Post(url+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		require.Less(t, resp.StatusCode, 300, "%s: %v", path, out)
		return out
	}
	planned := post("/v1/plans", requestBody(t, "testdata/requests.json"))
	started := post("/v1/plans/"+planned["id"].(string)+"/apply", "{}")
	events, err := client.Get(url + started["events"].(string))
	require.NoError(t, err)
	stream, err := io.ReadAll(events.Body) // ends with the run
	events.Body.Close()
	require.NoError(t, err)
	require.Contains(t, string(stream), `"state":"succeeded"`)
	assert.Equal(t, "17.0.13", e.nodeVersion(t, "java-1"))
	assert.Equal(t, "10.1.34", e.nodeVersion(t, "tomcat-2"))
	assert.Equal(t, "2.0.0", e.nodeVersion(t, "shop-1"))
	again := post("/v1/plans", requestBody(t, "testdata/requests.json"))
	assert.Contains(t, again["text"], "No changes.", "the next plan reads what the run did")

	// Applying the plan again, as a client retrying a POST would, is
	// refused: the topology has moved past where it starts, and nothing
	// runs again.
	ledger := e.readLedger(t)
	resp, err = client.Post(url+"/v1/plans/"+planned["id"].(string)+"/apply", "application/json", nil)
	require.NoError(t, err)
	var refused map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&refused))
	resp.Body.Close()
	assert.Equal(t, http.StatusConflict, resp.StatusCode, refused)
	assert.Equal(t, "stale", refused["kind"])
	assert.Contains(t, refused["error"], "stale plan: node ")
	assert.Equal(t, ledger, e.readLedger(t), "nothing ran again")

	// The topology file changed by something else (here, put back as it
	// was): the next plan reads it.
	e.fresh(t)
	reverted := post("/v1/plans", requestBody(t, "testdata/requests.json"))
	assert.Contains(t, reverted["text"], "8 steps", "the plan reads the file as it is now")

	cancel()
	select {
	case code := <-exit:
		assert.Equal(t, exitOK, code, stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
	_, err = client.Post(url+"/v1/plan", "application/json", strings.NewReader("{}"))
	assert.Error(t, err, "the server no longer listens")
}

func TestServeFlags(t *testing.T) {
	r := stackup(t, "serve", "--topology", "testdata/shop.yaml", "--repo", "testdata/repo")
	assert.Equal(t, exitUsage, r.code)
	// serve runs the steps with --exec, or has workers run them: both named.
	assert.Contains(t, r.stderr, "give --exec COMMAND, or --database URL for 'stackup worker' processes to run the steps")
	r = stackup(t, "serve", "--topology", "testdata/shop.yaml", "--repo", "testdata/repo", "--exec", "true", "--listen", "256.0.0.1:http")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "--listen")
}

// TestServeInterruptStopsGently: after the first interrupt, a run in
// progress lets its running step finish and starts no other; Close waits
// for it, within the grace period.
func TestServeInterruptStopsGently(t *testing.T) {
	dir := t.TempDir()
	started, release := filepath.Join(dir, "started"), filepath.Join(dir, "release")
	stop := make(chan struct{})
	ts := newTestServerCtx(t, withStop(t.Context(), stop), time.Hour, "testdata/shop.yaml",
		`sh -c 'echo "$1" >> LEDGER; touch `+started+`; while [ ! -e `+release+` ]; do sleep 0.01; done' sh {{.ID}}`,
		access{token: testToken}, slog.New(slog.DiscardHandler))
	code, answer := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	waitFile(t, started)
	close(stop)
	closed := make(chan struct{})
	go func() { ts.srv.Close(); close(closed) }()
	code, refused := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	for code != http.StatusServiceUnavailable { // Close has not yet begun
		code, refused = ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	}
	assert.Equal(t, "shutting_down", refused["kind"])
	select {
	case <-closed:
		t.Fatal("Close did not wait for the running step")
	default:
	}
	require.NoError(t, os.WriteFile(release, nil, 0o600))
	<-closed
	_, status := ts.get(t, "/v1/runs/"+answer["run"].(string))
	assert.Equal(t, "interrupted", status["state"], status)
	assert.Contains(t, status["error"], "stopped")
	assert.Equal(t, allSteps[0]+"\n", ts.readLedger(t), "the running step finished, no other started")
}

// newTestState opens a new state directory that cleanup closes.
func newTestState(t testing.TB) *stateStore {
	t.Helper()
	st, err := openStateDir(filepath.Join(t.TempDir(), "state"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

func TestStateDirOneServerAtATime(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	first, err := openStateDir(dir)
	require.NoError(t, err)
	_, err = openStateDir(dir)
	require.Error(t, err, "a second server on the same state directory")
	assert.Equal(t, "--state-dir "+dir+" is in use by another stackup serve: give each server its own state directory", err.Error())
	require.NoError(t, first.Close())
	again, err := openStateDir(dir)
	require.NoError(t, err, "the directory is free once the first server closes it")
	require.NoError(t, again.Close())
}
