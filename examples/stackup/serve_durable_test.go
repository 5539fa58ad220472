package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stackup/stackup/upgrade"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rfc3339ms is the shape of the times in events.
var rfc3339ms = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// TestServeReviewedPlan plans for review, reads the plan back, and runs
// exactly it: the run names the reviewed plan and runs its steps.
func TestServeReviewedPlan(t *testing.T) {
	ts := newTestServer(t, `sh -c 'echo "$1 $2" >> "$3"' sh {{.ID}} {{.InDoubt}} LEDGER`)
	resp, err := ts.client.Post(ts.url+"/v1/plans", "application/json", strings.NewReader(requestBody(t, "testdata/requests.json")))
	require.NoError(t, err)
	created := decodeJSON(t, resp)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, created)
	id, _ := created["id"].(string)
	require.Regexp(t, `^sha256:[0-9a-f]{64}$`, id)
	assert.Equal(t, "/v1/plans/"+id, resp.Header.Get("Location"))
	assert.Contains(t, created["text"], "platform/java-1@17.0.13")
	plan, _ := created["plan"].(map[string]any)
	require.NotNil(t, plan, created)
	assert.Equal(t, id, plan["id"])
	assert.Equal(t, "stackup.plan/v3", plan["schema"])
	assert.Empty(t, ts.readLedger(t), "planning runs nothing")

	// Kept in the state directory, readable only by the server's user.
	fi, err := os.Stat(filepath.Join(ts.stateDir, "plans", "sha256-"+strings.TrimPrefix(id, "sha256:")+".json"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
	fi, err = os.Stat(ts.stateDir)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o700), fi.Mode().Perm())

	code, got := ts.get(t, "/v1/plans/"+id)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, created, got, "the plan read back is the one posted")

	code, answer := ts.post(t, "/v1/plans/"+id+"/apply", "")
	require.Equal(t, http.StatusAccepted, code, answer)
	assert.Equal(t, id, answer["plan"])
	run := answer["run"].(string)
	assert.Equal(t, "/v1/runs/"+run+"/events", answer["events"])
	events := ts.follow(t, answer["events"].(string), "")
	for _, ev := range events[:len(events)-1] {
		var data map[string]any
		require.NoError(t, json.Unmarshal([]byte(ev.data), &data))
		assert.Regexp(t, rfc3339ms, data["time"])
	}
	assert.Equal(t, ledgerOf(allSteps...), ts.readLedger(t))

	code, status := ts.get(t, "/v1/runs/"+run)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "succeeded", status["state"])
	assert.Equal(t, id, status["plan"])
	started, err := time.Parse(time.RFC3339, status["started"].(string))
	require.NoError(t, err)
	finished, err := time.Parse(time.RFC3339, status["finished"].(string))
	require.NoError(t, err)
	assert.False(t, finished.Before(started))
	steps := map[string]any{}
	for _, s := range allSteps {
		steps[s] = "succeeded"
	}
	assert.Equal(t, steps, status["steps"])
}

// TestServeRunsList lists two runs, newest first, with their outcomes.
func TestServeRunsList(t *testing.T) {
	ts := newTestServer(t, `sh -c 'if [ "$1" = app/shop-2@2.0.0 ]; then exit 1; fi' sh {{.ID}}`)
	code, list := ts.get(t, "/v1/runs")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, []any{}, list["runs"])
	code, first := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, first)
	ts.follow(t, first["events"].(string), "")
	billing := `{"requests": [{"application": "billing", "replaces": "billing_app", "template": {"id": "billing_app", "type": "webapp",
		"version": "3.3.0", "requirements": [{"template": "tomcat_server", "constraint": ">=8.5.50"}]}}]}`
	code, second := ts.post(t, "/v1/apply", billing)
	require.Equal(t, http.StatusAccepted, code, second)
	ts.follow(t, second["events"].(string), "")

	code, list = ts.get(t, "/v1/runs")
	require.Equal(t, http.StatusOK, code)
	runs, _ := list["runs"].([]any)
	require.Len(t, runs, 2)
	newest, oldest := runs[0].(map[string]any), runs[1].(map[string]any)
	assert.Equal(t, second["run"], newest["run"])
	assert.Equal(t, "succeeded", newest["state"])
	assert.Equal(t, first["run"], oldest["run"])
	assert.Equal(t, "failed", oldest["state"])
	assert.Equal(t, "failed", oldest["steps"].(map[string]any)["app/shop-2@2.0.0"])
}

// gatedExec is a step command that appends "ID IN_DOUBT" to the ledger,
// and for step blocked, not in doubt, creates the file started and then
// waits for the file gate.
func gatedExec(blocked, started, gate string) string {
	return `sh -c 'echo "$1 $2" >> "$3"; if [ "$1" = "$4" ] && [ "$2" = false ]; then touch "$5"; while [ ! -e "$6" ]; do sleep 0.02; done; fi' sh {{.ID}} {{.InDoubt}} LEDGER ` +
		blocked + " " + started + " " + gate
}

// TestServeCancelResume cancels a run while its third step runs: it ends
// cancelled, cannot be cancelled again, and resuming it runs the steps
// not done, the cancelled one again, and none of those done.
func TestServeCancelResume(t *testing.T) {
	dir := t.TempDir()
	started, gate := filepath.Join(dir, "started"), filepath.Join(dir, "gate")
	ts := newTestServer(t, gatedExec(allSteps[2], started, gate))
	code, answer := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	run := answer["run"].(string)
	waitFile(t, started)

	code, cancelled := ts.post(t, "/v1/runs/"+run+"/cancel", "")
	assert.Equal(t, http.StatusAccepted, code, cancelled)
	events := ts.follow(t, answer["events"].(string), "")
	var done map[string]any
	require.NoError(t, json.Unmarshal([]byte(events[len(events)-1].data), &done))
	assert.Equal(t, "cancelled", done["state"])
	assert.Equal(t, "run "+run+" cancelled by POST /v1/runs/ID/cancel; resume it with POST /v1/runs/"+run+"/resume", done["error"],
		"says who stopped it and what to do, not just \"context canceled\"")
	steps := done["steps"].(map[string]any)
	assert.Equal(t, "succeeded", steps[allSteps[0]])
	assert.Equal(t, "in_doubt", steps[allSteps[2]], "stopped while it ran")
	assert.Equal(t, "not_started", steps[allSteps[7]])

	code, again := ts.post(t, "/v1/runs/"+run+"/cancel", "")
	assert.Equal(t, http.StatusConflict, code)
	assert.Equal(t, "not_running", again["kind"])
	assert.Contains(t, again["error"], "run "+run+" is not running: it is cancelled")

	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	code, resumed := ts.post(t, "/v1/runs/"+run+"/resume", "")
	require.Equal(t, http.StatusAccepted, code, resumed)
	assert.Equal(t, run, resumed["run"], "a resumed run keeps its ID and journal")
	events = ts.follow(t, resumed["events"].(string), "")
	require.NoError(t, json.Unmarshal([]byte(events[len(events)-1].data), &done))
	assert.Equal(t, "succeeded", done["state"])
	assert.Equal(t, float64(len(allSteps)), done["succeeded"])
	assert.Equal(t, ledgerOf(allSteps[:3]...)+allSteps[2]+" true\n"+ledgerOf(allSteps[3:]...), ts.readLedger(t),
		"the steps done ran once; the cancelled one again, in doubt")
	inDoubt := 0
	for _, ev := range events {
		if strings.Contains(ev.data, `"in_doubt":true`) {
			inDoubt++
			assert.Contains(t, ev.data, `"kind":"started","step":"`+allSteps[2]+`"`)
		}
	}
	assert.Equal(t, 1, inDoubt, "the event of the step offered again flags it in doubt")

	code, refused := ts.post(t, "/v1/runs/"+run+"/resume", "")
	assert.Equal(t, http.StatusConflict, code)
	assert.Equal(t, "not_resumable", refused["kind"])
	assert.Contains(t, refused["error"], "run "+run+" has succeeded: nothing to resume")
}

// TestServeRestart closes a server while a step blocks: the run ends
// interrupted, and a second server on the same state directory lists it
// so, and resumes it without running again the steps done.
func TestServeRestart(t *testing.T) {
	dir := t.TempDir()
	started, gate := filepath.Join(dir, "started"), filepath.Join(dir, "gate")
	stateDir := filepath.Join(dir, "state")
	e := newApplyEnv(t)
	log := slog.New(slog.DiscardHandler)
	exec := gatedExec(allSteps[3], started, gate)
	first := startTestServer(t, e, stateDir, t.Context(), 0, "testdata/shop.yaml", exec, access{token: testToken}, log)
	code, answer := first.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	run := answer["run"].(string)
	waitFile(t, started)
	first.stop() // cancels the blocked step
	require.NoError(t, os.WriteFile(gate, nil, 0o600))

	second := startTestServer(t, e, stateDir, t.Context(), 0, "testdata/shop.yaml", exec, access{token: testToken}, log)
	code, list := second.get(t, "/v1/runs")
	require.Equal(t, http.StatusOK, code)
	runs := list["runs"].([]any)
	require.Len(t, runs, 1)
	got := runs[0].(map[string]any)
	assert.Equal(t, run, got["run"])
	assert.Equal(t, "interrupted", got["state"])
	assert.Equal(t, "succeeded", got["steps"].(map[string]any)[allSteps[2]])
	assert.Equal(t, "in_doubt", got["steps"].(map[string]any)[allSteps[3]])
	assert.Equal(t, "not_started", got["steps"].(map[string]any)[allSteps[4]])

	var learned []string
	second.srv.learn = func(_ context.Context, steps []upgrade.Step) error {
		for _, st := range steps { // called from one goroutine at a time
			learned = append(learned, string(st.ID))
		}
		return nil
	}
	code, resumed := second.post(t, "/v1/runs/"+run+"/resume", "")
	require.Equal(t, http.StatusAccepted, code, resumed)
	events := second.follow(t, resumed["events"].(string), "")
	var done map[string]any
	require.NoError(t, json.Unmarshal([]byte(events[len(events)-1].data), &done))
	assert.Equal(t, "succeeded", done["state"], done)
	assert.Equal(t, ledgerOf(allSteps[:4]...)+allSteps[3]+" true\n"+ledgerOf(allSteps[4:]...), second.readLedger(t),
		"the steps done ran once; the interrupted one again, in doubt")
	assert.Equal(t, allSteps, learned, "the inventory learns the steps done before the restart again, then the others")
}

// TestServeLearns checks the inventory hook: it is called once per step
// that succeeded, in order, and the run ends once it has been.
func TestServeLearns(t *testing.T) {
	ts := newTestServer(t, `sh -c 'echo "ran $1" >> "$2"' sh {{.ID}} LEDGER`)
	var mu sync.Mutex
	var learned []string
	ts.srv.learn = func(ctx context.Context, steps []upgrade.Step) error {
		mu.Lock()
		defer mu.Unlock()
		for _, st := range steps {
			learned = append(learned, string(st.ID)+" "+st.To.String())
		}
		return nil
	}
	code, answer := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	ts.follow(t, answer["events"].(string), "")
	var ran, want []string
	for _, s := range allSteps {
		ran = append(ran, "ran "+s+"\n")
		want = append(want, s+" "+s[strings.Index(s, "@")+1:])
	}
	assert.Equal(t, strings.Join(ran, ""), ts.readLedger(t))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, want, learned, "learned once the run ended")
}

// TestServeMetrics reads /metrics after a run.
func TestServeMetrics(t *testing.T) {
	ts := newTestServer(t, "true")
	code, answer := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	ts.follow(t, answer["events"].(string), "")
	resp, err := ts.client.Get(ts.url + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, line := range []string{
		`stackup_runs_total{outcome="succeeded"} 1`,
		`stackup_runs_total{outcome="failed"} 0`,
		`stackup_runs_in_progress 0`,
		`stackup_steps_total{state="started"} 8`,
		`stackup_steps_total{state="succeeded"} 8`,
		`stackup_step_duration_seconds_count 8`,
	} {
		assert.Contains(t, string(body), line+"\n")
	}
	// The Go runtime's and the process's, which dashboards expect too.
	for _, metric := range []string{"go_goroutines", "go_gc_duration_seconds_count", "process_start_time_seconds"} {
		assert.Contains(t, string(body), "\n"+metric+" ")
	}
}

// TestServeJSONErrors calls unknown routes and routes with the wrong
// method: the answers are JSON.
func TestServeJSONErrors(t *testing.T) {
	ts := newTestServer(t, "true")
	tests := []struct {
		method, path string
		status       int
		kind, allow  string
	}{
		{"GET", "/v1/nope", http.StatusNotFound, "not_found", ""},
		{"GET", "/nope", http.StatusNotFound, "not_found", ""}, // GET / is the dashboard
		{"POST", "/v1/runs/X/nope", http.StatusNotFound, "not_found", ""},
		{"GET", "/v1/plans", http.StatusMethodNotAllowed, "method_not_allowed", "POST"},
		{"GET", "/v1/apply", http.StatusMethodNotAllowed, "method_not_allowed", "POST"},
		{"DELETE", "/v1/runs/X", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
		{"GET", "/v1/runs/X/cancel", http.StatusMethodNotAllowed, "method_not_allowed", "POST"},
		{"POST", "/metrics", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, ts.url+tt.path, nil)
			require.NoError(t, err)
			resp, err := ts.client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			answer := decodeJSON(t, resp)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Equal(t, tt.kind, answer["kind"])
			assert.Contains(t, answer["error"], tt.path)
			assert.Equal(t, tt.allow, resp.Header.Get("Allow"))
		})
	}
}

// TestServeForgets keeps one ended run in memory: the list shows the
// newest, and the older one is still read from the state directory.
func TestServeForgets(t *testing.T) {
	ts := newTestServer(t, "true")
	ts.srv.keep = 1
	var runs []string
	for range 2 {
		code, answer := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
		require.Equal(t, http.StatusAccepted, code, answer)
		ts.follow(t, answer["events"].(string), "")
		runs = append(runs, answer["run"].(string))
	}
	_, list := ts.get(t, "/v1/runs")
	require.Len(t, list["runs"], 1)
	assert.Equal(t, runs[1], list["runs"].([]any)[0].(map[string]any)["run"])
	code, status := ts.get(t, "/v1/runs/"+runs[0])
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "succeeded", status["state"])
	events := ts.follow(t, "/v1/runs/"+runs[0]+"/events", "")
	assert.Len(t, events, 1, "only the done event: the steps' events are not kept")
}

// TestServeReviewedPlanStale reviews a plan on one server and applies it
// on a second, on the same state directory, whose topology has since
// changed: refused with 409, naming the node, and nothing runs.
func TestServeReviewedPlanStale(t *testing.T) {
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	e := newApplyEnv(t)
	log := slog.New(slog.DiscardHandler)
	exec := `sh -c 'echo "$1" >> LEDGER' sh {{.ID}}`
	first := startTestServer(t, e, stateDir, t.Context(), 0, "testdata/shop.yaml", exec, access{token: testToken}, log)
	id := first.reviewed(t)

	data, err := os.ReadFile("testdata/shop.yaml")
	require.NoError(t, err)
	changed := filepath.Join(dir, "changed.yaml")
	require.NoError(t, os.WriteFile(changed, []byte(strings.Replace(string(data),
		"{id: java-1, template: java_runtime,", "{id: java-1, template: java_runtime, version: 11.0.25,", 1)), 0o600))
	first.stop()
	second := startTestServer(t, e, stateDir, t.Context(), 0, changed, exec, access{token: testToken}, log)
	code, answer := second.post(t, "/v1/plans/"+id+"/apply", "")
	require.Equal(t, http.StatusConflict, code, answer)
	assert.Equal(t, "stale", answer["kind"])
	assert.Contains(t, answer["error"], `stale plan: node "java-1" has 11.0.25, but step platform/java-1@17.0.13 expects 8.0.402: plan again: nothing was run`)
	assert.Zero(t, second.runCount(), "no run was made")
	assert.Empty(t, second.readLedger(t))
}

// TestServePrunesPlans: past --keep-plans plans that no run names, the
// oldest of them are removed from the state directory (and are no longer
// found); a plan a run names is kept, however old, whether the run came
// from a reviewed plan or from /v1/apply, and by a server restarted on
// the state directory, which reads the runs' records.
func TestServePrunesPlans(t *testing.T) {
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	e := newApplyEnv(t)
	log := slog.New(slog.DiscardHandler)
	ts := startTestServer(t, e, stateDir, t.Context(), 0, "testdata/shop.yaml", "true", access{token: testToken}, log)
	ts.srv.keepPlans = 2
	// Each plan stored an hour ago and a second after the one before, so
	// that the order does not rest on the file system's clock.
	stored := time.Now().Add(-time.Hour)
	age := func(id string) {
		stored = stored.Add(time.Second)
		path := filepath.Join(stateDir, "plans", "sha256-"+strings.TrimPrefix(id, "sha256:")+".json")
		if _, err := os.Stat(path); err == nil {
			require.NoError(t, os.Chtimes(path, stored, stored))
		}
	}
	body := func(version string) string {
		return strings.Replace(requestBody(t, "testdata/requests.json"), `"version": "2.0.0"`, `"version": "`+version+`"`, 1)
	}
	post := func(ts *testServer, version string) string {
		code, answer := ts.post(t, "/v1/plans", body(version))
		require.Equal(t, http.StatusCreated, code, answer)
		id := answer["id"].(string)
		age(id)
		return id
	}
	reviewed := post(ts, "2.0.1")
	code, answer := ts.post(t, "/v1/plans/"+reviewed+"/apply", "{}")
	require.Equal(t, http.StatusAccepted, code, answer)
	ts.follow(t, answer["events"].(string), "")
	code, answer = ts.post(t, "/v1/apply", body("2.0.2"))
	require.Equal(t, http.StatusAccepted, code, answer)
	ts.follow(t, answer["events"].(string), "")
	applied := answer["plan"].(string)
	age(applied)
	first, second, third := post(ts, "2.0.3"), post(ts, "2.0.4"), post(ts, "2.0.5")
	kept := func(ts *testServer, want map[string]bool) {
		t.Helper()
		for id, kept := range want {
			code, _ := ts.get(t, "/v1/plans/"+id)
			assert.Equal(t, kept, code == http.StatusOK, "plan %s kept: %d", id, code)
		}
	}
	kept(ts, map[string]bool{reviewed: true, applied: true, first: false, second: true, third: true})
	entries, err := os.ReadDir(filepath.Join(stateDir, "plans"))
	require.NoError(t, err)
	assert.Len(t, entries, 4, "two plans no run names, and the two runs name")
	ts.stop()

	again := startTestServer(t, e, stateDir, t.Context(), 0, "testdata/shop.yaml", "true", access{token: testToken}, log)
	again.srv.keepPlans = 1
	fourth := post(again, "2.0.6")
	kept(again, map[string]bool{reviewed: true, applied: true, second: false, third: false, fourth: true})
}

// TestServeRefusedAppliesKeepNoPlans applies plan after plan while a run
// holds the application: each is refused as busy and leaves no plan in
// the state directory, neither stored nor kept from pruning, so that
// refused applies cannot grow it past --keep-plans. A reviewed plan whose
// apply is refused stays stored, and is pruned as any other.
func TestServeRefusedAppliesKeepNoPlans(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	ts := newTestServer(t, `sh -c 'while [ ! -e "$1" ]; do sleep 0.02; done' sh `+gate)
	ts.srv.keepPlans = 2
	body := func(version string) string {
		return strings.Replace(requestBody(t, "testdata/requests.json"), `"version": "2.0.0"`, `"version": "`+version+`"`, 1)
	}
	stored := func() []string {
		t.Helper()
		entries, err := os.ReadDir(filepath.Join(ts.stateDir, "plans"))
		require.NoError(t, err)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	named := func() int {
		ts.srv.mu.Lock()
		defer ts.srv.mu.Unlock()
		return len(ts.srv.named)
	}
	code, running := ts.post(t, "/v1/apply", body("2.0.0"))
	require.Equal(t, http.StatusAccepted, code, running)
	code, reviewed := ts.post(t, "/v1/plans", body("2.0.1"))
	require.Equal(t, http.StatusCreated, code, reviewed)
	before := stored()
	require.Len(t, before, 2, "the running plan and the reviewed one")

	for i := range 5 {
		code, answer := ts.post(t, "/v1/apply", body(fmt.Sprintf("2.1.%d", i)))
		require.Equal(t, http.StatusConflict, code, answer)
		assert.Equal(t, "busy", answer["kind"])
	}
	code, answer := ts.post(t, "/v1/plans/"+reviewed["id"].(string)+"/apply", "")
	require.Equal(t, http.StatusConflict, code, answer)
	assert.Equal(t, "busy", answer["kind"])
	assert.Equal(t, before, stored(), "refused applies store no plan")
	assert.Equal(t, 1, named(), "only the running plan is kept from pruning")

	// Past --keep-plans, the plans no run names are pruned, the reviewed
	// plan whose apply was refused among them.
	for i := range 3 {
		code, answer := ts.post(t, "/v1/plans", body(fmt.Sprintf("2.2.%d", i)))
		require.Equal(t, http.StatusCreated, code, answer)
	}
	assert.Len(t, stored(), 1+2, "the running plan and --keep-plans others")

	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	events := ts.follow(t, running["events"].(string), "")
	assert.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)
	assert.Equal(t, 1, ts.runCount(), "the refused applies made no run")
}
