package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// TestHunt8CommandEnvironmentHasNoPostgresPasswords: PGPASSWORD and
// PGSSLPASSWORD, which libpq and pgx read the database's password (and
// that of the client key) from, are secrets of stackup's as the database
// URL is: a step command does not get them.
func TestHunt8CommandEnvironmentHasNoPostgresPasswords(t *testing.T) {
	t.Setenv("PGPASSWORD", "pg-password-that-must-not-leak")
	t.Setenv("PGSSLPASSWORD", "pg-key-password-that-must-not-leak")
	t.Setenv("STACKUP_TEST_ORDINARY", "kept")
	var out bytes.Buffer
	cmds, err := parseCommands("env", "", "")
	require.NoError(t, err)
	require.NoError(t, newRunner(cmds, &out, defaultGrace).Execute(t.Context(), withNode(hostileStep("x"), "-1")))
	env := strings.Split(out.String(), "\n")
	assert.Contains(t, env, "STACKUP_TEST_ORDINARY=kept", "the command saw stackup's environment")
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		assert.NotContains(t, []string{"PGPASSWORD", "PGSSLPASSWORD"}, name, "a database password reaches the command")
	}
	assert.NotContains(t, out.String(), "must-not-leak")
	assert.Contains(t, secretEnv, "PGPASSWORD")
	assert.Contains(t, secretEnv, "PGSSLPASSWORD")
}

// TestHunt8NullBody posts the JSON body null to every call that takes a
// body: each is refused 400 "the body is null", and nothing runs. Before,
// POST /v1/plans/ID/apply read null as no fields and started a run, and
// POST /v1/runs/ID/resume resumed one.
func TestHunt8NullBody(t *testing.T) {
	exec, ran := marker(t)
	ts := newTestServer(t, exec)
	id := ts.reviewed(t)
	for _, path := range []string{"/v1/plan", "/v1/apply", "/v1/plans", "/v1/plans/" + id + "/apply"} {
		for _, body := range []string{"null", " null\n", "\tnull "} {
			t.Run(path+fmt.Sprintf("/%q", body), func(t *testing.T) {
				code, answer := ts.post(t, path, body)
				assert.Equal(t, http.StatusBadRequest, code, answer)
				assert.Equal(t, "invalid_request", answer["kind"])
				assert.Contains(t, answer["error"], "the body is null")
				assert.Zero(t, ts.runCount(), "no run was created")
				assert.NoFileExists(t, ran, "no command ran")
			})
		}
	}

	// A run that failed, which a resume would run again, and a cancel
	// answer about.
	failing := newTestServer(t, "false")
	code, answer := failing.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	run := answer["run"].(string)
	failing.follow(t, answer["events"].(string), "")
	before := failing.readLedger(t)
	for _, path := range []string{"/v1/runs/" + run + "/resume", "/v1/runs/" + run + "/cancel"} {
		t.Run(path, func(t *testing.T) {
			code, answer := failing.post(t, path, "null")
			assert.Equal(t, http.StatusBadRequest, code, answer)
			assert.Equal(t, "invalid_request", answer["kind"])
			assert.Contains(t, answer["error"], "the body is null")
			_, status := failing.get(t, "/v1/runs/"+run)
			assert.Equal(t, "failed", status["state"], "the run was not resumed")
			assert.Equal(t, before, failing.readLedger(t), "no command ran")
		})
	}
}

// TestHunt8NoSniff: every answer, of every route, refused or not, says
// X-Content-Type-Options: nosniff, so that no browser takes a JSON error
// that echoes a client's text for a page or a script.
func TestHunt8NoSniff(t *testing.T) {
	ts := newTestServer(t, "true")
	id := ts.reviewed(t)
	auth := map[string]string{"Authorization": "Bearer " + testToken}
	for _, a := range []attack{
		{name: "healthz", method: "GET", path: "/healthz"},
		{name: "no-token", method: "GET", path: "/v1/runs"},
		{name: "runs", method: "GET", path: "/v1/runs", header: auth},
		{name: "plan", method: "GET", path: "/v1/plans/" + id, header: auth},
		{name: "plan-unknown", method: "GET", path: "/v1/plans/nothing", header: auth},
		{name: "no-route", method: "GET", path: "/nothing", header: auth},
		{name: "wrong-method", method: "DELETE", path: "/v1/runs", header: auth},
		{name: "wrong-host", method: "GET", path: "/v1/runs", header: map[string]string{"Host": "evil.example", "Authorization": "Bearer " + testToken}},
		{name: "bad-body", method: "POST", path: "/v1/plan", body: "<script>", header: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + testToken}},
		{name: "text-body", method: "POST", path: "/v1/plan", body: "<script>", header: map[string]string{"Content-Type": "text/plain", "Authorization": "Bearer " + testToken}},
	} {
		t.Run(a.name, func(t *testing.T) {
			_, header, _ := ts.send(t, a)
			assert.Equal(t, "nosniff", header.Get("X-Content-Type-Options"))
		})
	}
	for _, path := range []string{"/", "/metrics"} { // the dashboard and the metrics, not JSON
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.url+path, nil)
		require.NoError(t, err)
		resp, err := ts.client.Do(req)
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
	}
}

// TestHunt8LongUnknownField posts bodies whose unknown field has a name of
// half a megabyte, in every place a field can be, and to the calls that
// take no fields: each is refused 400 naming the field's start and its
// length, in a message of a few hundred bytes, not one that echoes the
// whole name (before: about 524 KB).
func TestHunt8LongUnknownField(t *testing.T) {
	exec, ran := marker(t)
	ts := newTestServer(t, exec)
	id := ts.reviewed(t)
	long := strings.Repeat("x", 500_000)
	good := `"application": "shop", "replaces": "shop_app", "template": {"id": "shop_app_v2", "type": "webapp", "version": "2.0.0"}`
	for _, tt := range []struct{ name, path, body string }{
		{"top", "/v1/plan", `{"` + long + `": 1}`},
		{"request", "/v1/plan", `{"requests": [{` + good + `, "` + long + `": 1}]}`},
		{"template", "/v1/apply", `{"requests": [{"application": "shop", "template": {"` + long + `": 1}}]}`},
		{"control", "/v1/plans", `{"\u001b[31m` + long + `": 1}`},
		{"apply-plan", "/v1/plans/" + id + "/apply", `{"` + long + `": 1}`},
		{"resume", "/v1/runs/" + strings.Repeat("A", 26) + "/resume", `{"` + long + `": 1}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, answer := ts.post(t, tt.path, tt.body)
			assert.Equal(t, http.StatusBadRequest, code)
			msg := fmt.Sprint(answer["error"])
			assert.Less(t, len(msg), 1000, "the message is bounded: %.300s", msg)
			assert.Contains(t, msg, "unknown field")
			assert.Contains(t, msg, "xxxxxxxx", "the message shows the field's start")
			assert.Contains(t, msg, "bytes)", "and its length")
			assert.NotContains(t, msg, "\x1b", "no escape sequence reaches a log or a terminal")
			assert.Zero(t, ts.runCount(), "no run was created")
			assert.NoFileExists(t, ran, "no command ran")
		})
	}
}

// TestHunt8WrongTypeFullPath: a value of the wrong type is named by its
// full place, list indexes included, in every body, also one that YAML
// cannot read (an escaped surrogate pair), which the message was made
// from: before, such a body gave "requests.template.version".
func TestHunt8WrongTypeFullPath(t *testing.T) {
	exec, ran := marker(t)
	ts := newTestServer(t, exec)
	good := `{"application": "shop", "replaces": "shop_app", "template": {"id": "x", "type": "webapp", "version": "2.0.0"}}`
	for _, tt := range []struct{ name, body, want string }{
		{"number", `{"requests": [` + good + `, ` + good + `, {"application": "shop", "replaces": "shop_app", "template": {"id": "x", "type": "webapp", "version": 5}}]}`,
			"requests[2].template.version: want a string, got the number 5"},
		{"surrogate", `{"requests": [` + good + `, ` + good + `, {"application": "shop\ud83d\ude00", "replaces": "shop_app", "template": {"id": "x", "type": "webapp", "version": 5}}]}`,
			"requests[2].template.version: want a string, got the number 5"},
		{"surrogate-requirement", `{"requests": [` + good + `, {"application": "\ud83d\ude00", "replaces": "shop_app", "template": {"id": "x", "type": "webapp", "version": "1.0.0", "requirements": [{"template": "a"}, {"template": true}]}}]}`,
			"requests[1].template.requirements[1].template: want a string, got the boolean true"},
		{"surrogate-object", `{"requests": [{"application": "\ud83d\ude00", "replaces": "shop_app", "template": {"id": "x", "type": "webapp", "version": {"a": 1}}}]}`,
			"requests[0].template.version: want a value, got fields"},
		{"surrogate-list", `{"requests": [` + good + `, "\ud83d\ude00"]}`,
			`requests[1]: want fields (application, replaces, template), got the value "😀"`},
		{"long-string", `{"requests": [` + good + `, "` + strings.Repeat("y", 100_000) + `"]}`,
			`requests[1]: want fields (application, replaces, template), got the value "yyyy`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, answer := ts.post(t, "/v1/apply", tt.body)
			assert.Equal(t, http.StatusBadRequest, code)
			assert.Contains(t, answer["error"], tt.want)
			assert.Less(t, len(fmt.Sprint(answer["error"])), 1000, "the message is bounded")
			assert.Zero(t, ts.runCount(), "no run was created")
			assert.NoFileExists(t, ran, "no command ran")
		})
	}
}

// TestHunt8EndedRunHasNoPendingSteps: a run that has ended says of the
// steps it never started "not_started", never "pending", which says they
// are still to come: one whose Run gave no report (its journal refused),
// and one that was running when its server stopped for good.
func TestHunt8EndedRunHasNoPendingSteps(t *testing.T) {
	t.Run("no-report", func(t *testing.T) {
		st, err := openStateDir(filepath.Join(t.TempDir(), "state"))
		require.NoError(t, err)
		defer st.Close()
		const run = "AAAAAAAAAAAAAAAAAAAAAAAAAA"
		rs := newRunState(runRecord{Run: run, State: runRunning, Steps: map[upgrade.StepID]string{"a": "succeeded", "b": stepPending, "c": stepRunning}})
		require.NoError(t, rs.end(st, nil, runFailed, fmt.Errorf("journal refused"), nil))
		want := map[upgrade.StepID]string{"a": "succeeded", "b": "not_started", "c": stepInDoubt}
		assert.Equal(t, want, rs.status().Steps)
		saved, err := st.loadRun(run)
		require.NoError(t, err)
		assert.Equal(t, want, saved.Steps, "saved as it says")
	})
	t.Run("restart", func(t *testing.T) {
		ts := newTestServer(t, "true")
		id := ts.reviewed(t)
		run := strings.Repeat("B", 26)
		started := time.Now().UTC()
		rec := runRecord{Run: run, Plan: id, State: runRunning, Total: 3, Started: started,
			Steps: map[upgrade.StepID]string{upgrade.StepID(allSteps[0]): "succeeded", upgrade.StepID(allSteps[1]): stepRunning, upgrade.StepID(allSteps[2]): stepPending}}
		require.NoError(t, ts.state.saveRun(&rec))
		ts.stop()
		again := startTestServer(t, ts.applyEnv, ts.stateDir, t.Context(), 0, "testdata/shop.yaml", "true", access{token: testToken}, ts.srv.log)
		code, status := again.get(t, "/v1/runs/"+run)
		require.Equal(t, http.StatusOK, code, status)
		assert.Equal(t, "interrupted", status["state"])
		assert.Equal(t, map[string]any{allSteps[0]: "succeeded", allSteps[1]: stepInDoubt, allSteps[2]: "not_started"}, status["steps"])
		data, err := os.ReadFile(filepath.Join(ts.stateDir, "runs", run+".json"))
		require.NoError(t, err)
		assert.NotContains(t, string(data), stepPending, "the record kept says so too")
	})
}

// TestHunt8LongValuesBounded posts requests whose values are long or
// hold a terminal escape, where the error quotes them: a relation that is
// none, and an application named in the error of another field. Each is
// refused 400, quoting only the value's start, escaped (before, the
// relation was echoed whole, and the application's name in every error
// of its request, raw).
func TestHunt8LongValuesBounded(t *testing.T) {
	exec, ran := marker(t)
	ts := newTestServer(t, exec)
	long := strings.Repeat("q", 300_000)
	request := func(app, version, relation string) string {
		return `{"requests": [{"application": "` + app + `", "replaces": "shop_app", "template": {"id": "x", "type": "webapp", "version": "` + version +
			`", "requirements": [{"template": "tomcat_server", "constraint": ">=1", "relation": "` + relation + `"}]}}]}`
	}
	for _, tt := range []struct{ name, body, want string }{
		{"relation", request("shop", "2.0.0", long), `template.requirements[0].relation: "qqqq`},
		{"relation-escape", request("shop", "2.0.0", `\u001b[2J`), `template.requirements[0].relation: "\x1b[2J"`},
		{"application", request(long, "two", "hosted_on"), `requests[0] ("qqqq`},
		{"application-escape", request(`\u001b[2Jshop`, "two", "hosted_on"), `requests[0] ("\x1b[2Jshop"): template.version`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/v1/plan", "/v1/plans", "/v1/apply"} {
				code, answer := ts.post(t, path, tt.body)
				assert.Equal(t, http.StatusBadRequest, code, path)
				msg := fmt.Sprint(answer["error"])
				assert.Less(t, len(msg), 1000, "%s: the message is bounded: %.300s", path, msg)
				assert.Contains(t, msg, tt.want, path)
				assert.NotContains(t, msg, "\x1b", path)
			}
			assert.Zero(t, ts.runCount(), "no run was created")
			assert.NoFileExists(t, ran, "no command ran")
		})
	}
	// A name as names go is shown as it is.
	code, answer := ts.post(t, "/v1/plan", request("shop", "two", "hosted_on"))
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, answer["error"], "requests[0] (shop): template.version")
}

// TestHunt8PathEscapedInErrors calls paths whose escapes decode to a
// line break and a terminal escape: the errors that name the path show
// them escaped, so that a client printing the error neither forges a
// line nor drives its terminal.
func TestHunt8PathEscapedInErrors(t *testing.T) {
	exec, ran := marker(t)
	ts := newTestServer(t, exec)
	auth := map[string]string{"Authorization": "Bearer " + testToken}
	for _, a := range []attack{
		{name: "no-route", method: "GET", path: "/v1/%1b[2J%0astackup:%20all%20is%20well", header: auth},
		{name: "wrong-method", method: "DELETE", path: "/v1/plans/%1b[2J%0aforged", header: auth},
		{name: "apply-fields", method: "POST", path: "/v1/plans/%1b[2J%0aforged/apply", body: `{"x": 1}`,
			header: map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "application/json"}},
	} {
		t.Run(a.name, func(t *testing.T) {
			code, _, answer := ts.send(t, a)
			assert.GreaterOrEqual(t, code, 400)
			msg := fmt.Sprint(answer["error"])
			assert.NotContains(t, msg, "\n", "a line forged: %q", msg)
			assert.NotContains(t, msg, "\x1b", "a terminal escape: %q", msg)
			assert.Zero(t, ts.runCount(), "no run was created")
			assert.NoFileExists(t, ran, "no command ran")
		})
	}
}

// TestHunt8OversizedEveryBody posts a body one byte over the limit to
// every call that takes a body, the calls that take no fields included:
// each answers 413, and nothing runs.
func TestHunt8OversizedEveryBody(t *testing.T) {
	exec, ran := marker(t)
	ts := newTestServer(t, exec)
	id := ts.reviewed(t)
	huge := `{"padding": "` + strings.Repeat("x", maxBody) + `"}`
	for _, path := range []string{"/v1/plan", "/v1/apply", "/v1/plans", "/v1/plans/" + id + "/apply",
		"/v1/runs/" + strings.Repeat("A", 26) + "/cancel", "/v1/runs/" + strings.Repeat("A", 26) + "/resume"} {
		t.Run(path, func(t *testing.T) {
			code, answer := ts.post(t, path, huge)
			assert.Equal(t, http.StatusRequestEntityTooLarge, code, answer)
			assert.Equal(t, "too_large", answer["kind"])
			assert.Zero(t, ts.runCount(), "no run was created")
			assert.NoFileExists(t, ran, "no command ran")
		})
	}
}

// FuzzHunt8RequestBodyWalk: the walk that checks a request body
// (checkJSONKeys) refuses every body that encoding/json, strict, refuses,
// so that what it lets through always decodes: parseRequestsJSON never
// fails with an internal error.
func FuzzHunt8RequestBodyWalk(f *testing.F) {
	for _, body := range []string{
		`{"requests": [{"application": "shop", "replaces": "shop_app", "template": {"id": "x", "type": "webapp", "version": "2.0.0"}}]}`,
		`{"requests": [{"application": "\ud83d\ude00", "template": {"version": 5}}]}`,
		`{"requests": null, "Requests": []}`,
		`{"requests": [null, {"template": null}]}`,
		`{"requests": [{"template": {"requirements": [{"name": "a", "relation": {}}]}}]}`,
		`[]`, `null`, `"x"`, `{"requests": "x"}`, `{"requests": [1e999]}`,
	} {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := parseRequestsJSON(bytes.NewReader(data))
		if err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatalf("%q: %v", data, err)
		}
		var raw json.RawMessage
		if json.Unmarshal(data, &raw) != nil || string(raw) == "null" {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var rf requestFile
		if derr := dec.Decode(&rf); derr != nil {
			if werr := checkJSONKeys(raw); werr == nil {
				t.Fatalf("%q: the decoder refuses it (%v), the walk lets it through", data, derr)
			}
		}
	})
}
