package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
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

// TestServeEventIDsAcrossRestart follows a run, then the server restarts
// and resumes it. A client that reconnects with the Last-Event-ID the
// first server gave (as the dashboard does after a broken stream) must
// not miss the resumed run's events: the second server must not take
// that ID for one of its own.
func TestServeEventIDsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	started, gate := filepath.Join(dir, "started"), filepath.Join(dir, "gate")
	stateDir := filepath.Join(dir, "state")
	e := newApplyEnv(t)
	log := slog.New(slog.DiscardHandler)
	exec := gatedExec(allSteps[3], started, gate)
	first := startTestServer(t, e, stateDir, t.Context(), 0, "testdata/shop.yaml", exec, access{token: testToken}, log)
	code, answer := first.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	run, path := answer["run"].(string), answer["events"].(string)
	waitFile(t, started)
	first.srv.Close() // the run ends interrupted; the HTTP server still answers
	seen := first.follow(t, path, "")
	require.Greater(t, len(seen), 2)
	last := seen[len(seen)-2].id // the last step event's; "done" has none
	require.NotEmpty(t, last)
	first.stop()
	require.NoError(t, os.WriteFile(gate, nil, 0o600))

	second := startTestServer(t, e, stateDir, t.Context(), 0, "testdata/shop.yaml", exec, access{token: testToken}, log)
	code, resumed := second.post(t, "/v1/runs/"+run+"/resume", "")
	require.Equal(t, http.StatusAccepted, code, resumed)
	all := second.follow(t, path, "")
	again := second.follow(t, path, last)
	assert.Equal(t, all, again, "an ID from the first server skips none of the second's events")
	var succeeded []string
	for _, ev := range again {
		var data map[string]any
		require.NoError(t, json.Unmarshal([]byte(ev.data), &data))
		if ev.event == "step" && data["kind"] == "succeeded" {
			succeeded = append(succeeded, data["step"].(string))
		}
	}
	assert.Equal(t, allSteps[3:], succeeded)
	// Within one server, Last-Event-ID still skips what was seen.
	require.Greater(t, len(all), 3)
	assert.Equal(t, all[3:], second.follow(t, path, all[2].id))
}

// TestServeApplyBodyFields posts fields to the calls that take none
// (apply of a reviewed plan, cancel, resume): they were ignored, so that a
// client asking for {"concurrency": 4} or {"dry_run": true} got a run as
// the server's flags say, without a word. Each is now 400 naming the
// field, and nothing runs; an empty body or {} is still fine.
func TestServeApplyBodyFields(t *testing.T) {
	ts := newTestServer(t, `sh -c 'echo "$1 $2" >> "$3"' sh {{.ID}} {{.InDoubt}} LEDGER`)
	id := ts.reviewed(t)
	bodies := []struct{ name, body, error string }{
		{"field", `{"dry_run": true}`, `unknown field "dry_run"`},
		{"fields", `{"concurrency": 4, "continue": true}`, `unknown field "concurrency"`},
		{"not-an-object", `[]`, "want an empty object"},
		{"trailing", `{} x`, "data after the JSON object"},
		{"malformed", `{`, "unexpected EOF"},
	}
	for _, b := range bodies {
		t.Run(b.name, func(t *testing.T) {
			for _, path := range []string{"/v1/plans/" + id + "/apply", "/v1/runs/AAAAAAAAAAAAAAAAAAAAAAAAAA/cancel", "/v1/runs/AAAAAAAAAAAAAAAAAAAAAAAAAA/resume"} {
				code, answer := ts.post(t, path, b.body)
				assert.Equal(t, http.StatusBadRequest, code, "%s: %v", path, answer)
				assert.Equal(t, "invalid_request", answer["kind"], path)
				assert.Contains(t, answer["error"], b.error, path)
				assert.Contains(t, answer["error"], "takes no fields", path)
			}
		})
	}
	assert.Zero(t, ts.runCount(), "no run was created")
	assert.Empty(t, ts.readLedger(t), "nothing ran")
	for _, body := range []string{"", "{}", " { } \n"} {
		code, answer := ts.post(t, "/v1/runs/AAAAAAAAAAAAAAAAAAAAAAAAAA/cancel", body)
		assert.Equal(t, http.StatusNotFound, code, "%q: %v", body, answer)
	}
	code, answer := ts.post(t, "/v1/plans/"+id+"/apply", "{}")
	require.Equal(t, http.StatusAccepted, code, answer)
	ts.follow(t, answer["events"].(string), "")
	assert.Equal(t, ledgerOf(allSteps...), ts.readLedger(t))
}

// TestServeLearnFailureReported breaks the topology file while a run's
// first step runs, so that the inventory cannot record any step: the run
// must not end "succeeded" as if the next plan would converge (it would
// plan the same steps again, and the stale check would let them run
// twice), but say so, as apply does (exit 1). Once the file is mended,
// resuming the run records the steps, and planning again gives none.
func TestServeLearnFailureReported(t *testing.T) {
	dir := t.TempDir()
	started, gate := filepath.Join(dir, "started"), filepath.Join(dir, "gate")
	ts := newLearningServer(t, gatedExec(allSteps[0], started, gate))
	good, err := os.ReadFile(ts.topo)
	require.NoError(t, err)
	code, answer := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	run := answer["run"].(string)
	waitFile(t, started)
	require.NoError(t, os.WriteFile(ts.topo, []byte("schema: [broken by hand\n"), 0o644))
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	events := ts.follow(t, answer["events"].(string), "")
	var done map[string]any
	require.NoError(t, json.Unmarshal([]byte(events[len(events)-1].data), &done))
	assert.Equal(t, "failed", done["state"], "every command succeeded, but nothing was recorded")
	assert.Equal(t, float64(len(allSteps)), done["succeeded"])
	assert.Contains(t, done["error"], "the inventory does not say so")
	assert.Contains(t, done["error"], "recording java-1 at 17.0.13 in "+ts.topo)
	assert.Contains(t, done["error"], "/v1/runs/"+run+"/resume")

	require.NoError(t, os.WriteFile(ts.topo, good, 0o644))
	code, resumed := ts.post(t, "/v1/runs/"+run+"/resume", "")
	require.Equal(t, http.StatusAccepted, code, resumed)
	events = ts.follow(t, resumed["events"].(string), "")
	require.NoError(t, json.Unmarshal([]byte(events[len(events)-1].data), &done))
	assert.Equal(t, "succeeded", done["state"], done)
	assert.Equal(t, ledgerOf(allSteps...), ts.readLedger(t), "no step ran twice")
	code, plan := ts.post(t, "/v1/plan", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusOK, code, plan)
	assert.Empty(t, plan["steps"], "the topology file knows every step: nothing left to plan")
}

// TestServeRepostedPlanKept posts plan A, then B, then A again (the same
// requests, reviewed again), then C, with --keep-plans 2: the plan
// reviewed last but one is A, so B is the oldest and goes. A plan is
// stored once, by ID; posting it again must count as storing it anew,
// or the client that just reviewed it gets 404 when approving it.
func TestServeRepostedPlanKept(t *testing.T) {
	stateDir := filepath.Join(t.TempDir(), "state")
	ts := startTestServer(t, newApplyEnv(t), stateDir, t.Context(), 0, "testdata/shop.yaml", "true", access{token: testToken}, slog.New(slog.DiscardHandler))
	ts.srv.keepPlans = 2
	stored := time.Now().Add(-time.Hour) // long ago, a second apart: not resting on the file system's clock
	post := func(version string, age bool) string {
		code, answer := ts.post(t, "/v1/plans", strings.Replace(requestBody(t, "testdata/requests.json"), `"version": "2.0.0"`, `"version": "`+version+`"`, 1))
		require.Equal(t, http.StatusCreated, code, answer)
		id := answer["id"].(string)
		if age {
			stored = stored.Add(time.Second)
			path := filepath.Join(stateDir, "plans", "sha256-"+strings.TrimPrefix(id, "sha256:")+".json")
			require.NoError(t, os.Chtimes(path, stored, stored))
		}
		return id
	}
	a, b := post("2.0.1", true), post("2.0.2", true)
	require.Equal(t, a, post("2.0.1", false), "the same requests, the same plan")
	post("2.0.3", false)
	code, answer := ts.post(t, "/v1/plans/"+a+"/apply", "")
	assert.Equal(t, http.StatusAccepted, code, "the plan reviewed again is kept: %v", answer)
	code, _ = ts.get(t, "/v1/plans/"+b)
	assert.Equal(t, http.StatusNotFound, code, "the plan reviewed longest ago goes")
}

// TestServeResumeStale cancels a run, then changes by hand the version
// of a node that a step not yet done upgrades: resuming it must be
// refused as a stale apply is, 409 {"kind": "stale"} with nothing run
// and the run left as it was, not accepted (202) to end failed at once.
func TestServeResumeStale(t *testing.T) {
	dir := t.TempDir()
	started, gate := filepath.Join(dir, "started"), filepath.Join(dir, "gate")
	ts := newLearningServer(t, gatedExec(allSteps[2], started, gate))
	code, answer := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	run := answer["run"].(string)
	waitFile(t, started)
	code, answer = ts.post(t, "/v1/runs/"+run+"/cancel", "")
	require.Equal(t, http.StatusAccepted, code, answer)
	ts.follow(t, answer["events"].(string), "")
	_, before := ts.get(t, "/v1/runs/"+run)
	require.Equal(t, "cancelled", before["state"])
	ledger := ts.readLedger(t)

	data, err := os.ReadFile(ts.topo)
	require.NoError(t, err)
	edited := strings.Replace(string(data), "version: 8.5.96", "version: 9.0.98", 1) // tomcat-2, upgraded by hand
	require.NotEqual(t, string(data), edited)
	require.NoError(t, os.WriteFile(ts.topo, []byte(edited), 0o644))
	require.NoError(t, os.WriteFile(gate, nil, 0o600))

	code, answer = ts.post(t, "/v1/runs/"+run+"/resume", "")
	assert.Equal(t, http.StatusConflict, code, answer)
	assert.Equal(t, "stale", answer["kind"])
	assert.Contains(t, answer["error"], `node "tomcat-2" has 9.0.98`)
	_, after := ts.get(t, "/v1/runs/"+run)
	assert.Equal(t, before, after, "the run is left as it was")
	assert.Equal(t, ledger, ts.readLedger(t), "nothing ran")
}

// TestServeAndApplyTakeTurns: one deployment, a server and the command
// line. While a run of the server is going, an apply on the same
// topology file is refused, naming the server, and runs nothing (it would
// run the server's steps a second time, at the same time); while an apply
// is going, the server refuses to start a run, 409 {"kind": "busy"}. Once
// each has ended, the other runs.
func TestServeAndApplyTakeTurns(t *testing.T) {
	dir := t.TempDir()
	started, gate := filepath.Join(dir, "started"), filepath.Join(dir, "gate")
	ts := newLearningServer(t, gatedExec(allSteps[0], started, gate))
	ts.srv.lockDeployment = func() (func(), error) { return lockRuns(&inputFlags{topology: ts.topo}) }
	code, answer := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	waitFile(t, started)

	r := stackup(t, ts.args("--quiet", "--exec", ts.record())...)
	assert.Equal(t, exitFailed, r.code, r.String())
	assert.Contains(t, r.stderr, fmt.Sprintf("is running steps on this deployment (pid %d on ", os.Getpid()))
	assert.Equal(t, allSteps[0]+" false\n", ts.readLedger(t), "the apply ran nothing")
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	ts.follow(t, answer["events"].(string), "")
	r = stackup(t, ts.args("--quiet", "--exec", ts.record())...)
	assert.Equal(t, exitOK, r.code, r.String())
	assert.Contains(t, r.stdout, "0 succeeded, 0 failed", "the server's run has ended: the apply runs, and finds nothing left")

	// The other way round: an apply holds the deployment.
	ts.fresh(t)
	started2, gate2 := filepath.Join(dir, "started2"), filepath.Join(dir, "gate2")
	applied := make(chan result, 1)
	go func() {
		applied <- stackup(t, ts.args("--quiet", "--exec", strings.ReplaceAll(gatedExec(allSteps[0], started2, gate2), "LEDGER", ts.ledger))...)
	}()
	waitFile(t, started2)
	runs := ts.runCount()
	code, answer = ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	assert.Equal(t, http.StatusConflict, code, answer)
	assert.Equal(t, "busy", answer["kind"])
	assert.Contains(t, answer["error"], fmt.Sprintf("is running steps on this deployment (pid %d on ", os.Getpid()))
	assert.Equal(t, runs, ts.runCount(), "no run was created")
	require.NoError(t, os.WriteFile(gate2, nil, 0o600))
	r = <-applied
	assert.Equal(t, exitOK, r.code, r.String())
	assert.Equal(t, ledgerOf(allSteps...), ts.readLedger(t), "only the apply ran")
	code, answer = ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	assert.Equal(t, http.StatusAccepted, code, "the apply has ended: the server runs: %v", answer)
	ts.follow(t, answer["events"].(string), "")
}

// TestPlanOutIsAnInput gives plan --out the path of one of its own input
// files (a slip of the keyboard: --out shop.yaml): the plan's JSON
// replaced the topology file, the deployment's record, comments and all.
// It is refused before anything is read, exit 2, naming the flag, and
// the file is left as it was.
func TestPlanOutIsAnInput(t *testing.T) {
	e := newApplyEnv(t)
	requests := filepath.Join(e.dir, "requests.yaml")
	require.NoError(t, os.WriteFile(requests, []byte(requestBody(t, "testdata/requests.yaml")), 0o644))
	link := filepath.Join(e.dir, "link.yaml")
	require.NoError(t, os.Symlink(e.topo, link))
	for _, tt := range []struct{ out, flag string }{
		{e.topo, "--topology"},
		{filepath.Join(e.dir, ".", "shop.yaml"), "--topology"},
		{requests, "--requests"},
		{e.key, "--key"},
		{link, "--topology"}, // a link to an input
	} {
		t.Run(tt.flag, func(t *testing.T) {
			before := snapshot(t, e.dir)
			r := stackup(t, "plan", "--topology", e.topo, "--repo", e.repo, "--key", e.key, "--requests", requests, "--out", tt.out)
			assert.Equal(t, exitUsage, r.code, r.String())
			assert.Contains(t, r.stderr, "--out "+tt.out+" is the "+tt.flag+" file")
			assert.Empty(t, r.stdout)
			assert.Equal(t, before, snapshot(t, e.dir), "nothing was written")
		})
	}
	// A file of its own is fine.
	r := stackup(t, "plan", "--topology", e.topo, "--repo", e.repo, "--key", e.key, "--requests", requests, "--out", filepath.Join(e.dir, "plan.json"))
	assert.Equal(t, exitOK, r.code, r.String())
}

// TestServeRollbackUnlearns runs, on a server with --rollback, a plan
// whose last step fails: every step is undone, and the topology file must
// say so, as apply's does (inventory.Unlearn), not keep the versions the
// steps had recorded: else the next plan would take the nodes for
// upgraded and plan nothing for them, and the stale check would refuse
// the only plan that fits them.
func TestServeRollbackUnlearns(t *testing.T) {
	ts := newLearningServer(t, "true")
	ts.srv.learnInto(newInventory(&inputFlags{topology: ts.topo})) // as serve has it
	cmds, err := parseCommands(ts.failOn("app/shop-2@2.0.0"), "", ts.script(`echo "undo $1" >> "$4"`))
	require.NoError(t, err)
	ts.srv.rf.rollback, ts.srv.cmds, ts.srv.exec = true, cmds, newRunner(cmds, io.Discard, defaultGrace)
	before, err := os.ReadFile(ts.topo)
	require.NoError(t, err)
	code, answer := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	events := ts.follow(t, answer["events"].(string), "")
	var done map[string]any
	require.NoError(t, json.Unmarshal([]byte(events[len(events)-1].data), &done))
	require.Equal(t, "failed", done["state"])
	require.Equal(t, float64(len(allSteps)), done["rolled_back"], done)
	for _, node := range []string{"java-1", "java-2", "tomcat-1", "tomcat-2", "shop-1", "shop-2"} {
		assert.Equal(t, versionIn(t, before, node), ts.nodeVersion(t, node), "node %s is back where it was", node)
	}
	code, plan := ts.post(t, "/v1/plan", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusOK, code, plan)
	assert.Len(t, plan["steps"], len(allSteps), "planning again plans every step again")
}

// versionIn returns the version that topology file data gives node.
func versionIn(t *testing.T, data []byte, node string) string {
	t.Helper()
	topo, err := topology.ReadYAML(bytes.NewReader(data))
	require.NoError(t, err)
	n, err := topo.Node(t.Context(), topology.NodeID(node))
	require.NoError(t, err)
	return n.Version.String()
}
