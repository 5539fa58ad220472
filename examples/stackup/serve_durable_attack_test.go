package main

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The attacks on the durable server: hostile plan and run IDs, calls
// without the token, and cross-origin writes on the routes of reviewed
// plans and runs. Each asserts that nothing ran, that the state directory
// did not change, and that the error names the ID.

// snapshot returns every file under dir with a digest of its content (or
// its link target), to compare before and after.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			files[rel] = "link " + target
			return err
		case d.IsDir():
			files[rel] = "dir"
		default:
			data, err := os.ReadFile(path)
			files[rel] = fmt.Sprintf("%x", sha256.Sum256(data))
			return err
		}
		return nil
	}))
	return files
}

// reviewed posts the test requests to /v1/plans and returns the plan ID.
func (ts *testServer) reviewed(t *testing.T) string {
	t.Helper()
	code, answer := ts.post(t, "/v1/plans", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusCreated, code, answer)
	return answer["id"].(string)
}

func TestServeAttackIDs(t *testing.T) {
	exec, ran := marker(t)
	ts := newTestServer(t, exec)
	id := ts.reviewed(t)
	hex := strings.TrimPrefix(id, "sha256:")
	// A plan outside the state directory, and a link to it planted in
	// the plans directory under a plan's name.
	outside := filepath.Join(filepath.Dir(ts.stateDir), "outside.json")
	data, err := os.ReadFile(filepath.Join(ts.stateDir, "plans", "sha256-"+hex+".json"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(outside, data, 0o600))
	planted := strings.Repeat("ab", 32)
	require.NoError(t, os.Symlink(outside, filepath.Join(ts.stateDir, "plans", "sha256-"+planted+".json")))
	before := snapshot(t, filepath.Dir(ts.stateDir))

	auth := map[string]string{"Authorization": "Bearer " + testToken}
	long := strings.Repeat("A", 10000)
	notPlanID := "is not a plan ID: one is \"sha256:\" and 64 lower-case hex digits"
	checkAttacks(t, ts, ran, []attack{
		{name: "plan-traversal", method: "GET", path: "/v1/plans/..%2F..%2Foutside", header: auth,
			status: 404, kind: "not_found", error: `plan ID "../../outside" ` + notPlanID},
		{name: "plan-traversal-after-prefix", method: "GET", path: "/v1/plans/sha256:..%2F..%2Foutside", header: auth,
			status: 404, kind: "not_found", error: `plan ID "sha256:../../outside" ` + notPlanID},
		{name: "plan-file-name", method: "GET", path: "/v1/plans/sha256-" + hex + ".json", header: auth,
			status: 404, kind: "not_found", error: `plan ID "sha256-` + hex + `.json" ` + notPlanID},
		{name: "plan-upper-case", method: "GET", path: "/v1/plans/sha256:" + strings.ToUpper(hex), header: auth,
			status: 404, kind: "not_found", error: notPlanID},
		{name: "plan-nul", method: "POST", path: "/v1/plans/" + id + "%00/apply", header: auth,
			status: 404, kind: "not_found", error: `plan ID "` + id + `\x00" ` + notPlanID},
		{name: "plan-apply-traversal", method: "POST", path: "/v1/plans/..%2F..%2Foutside/apply", header: auth,
			status: 404, kind: "not_found", error: `plan ID "../../outside" ` + notPlanID},
		{name: "plan-unknown", method: "POST", path: "/v1/plans/sha256:" + strings.Repeat("0", 64) + "/apply", header: auth,
			status: 404, kind: "not_found", error: `no plan "sha256:` + strings.Repeat("0", 64) + `": post the requests to /v1/plans`},
		{name: "plan-planted-link", method: "POST", path: "/v1/plans/sha256:" + planted + "/apply", header: auth,
			status: 500, kind: "internal", error: "sha256-" + planted + ".json is not a regular file (a symbolic link)"},
		{name: "plan-long", method: "GET", path: "/v1/plans/" + long, header: auth,
			status: 404, kind: "not_found", error: `plan ID "` + long[:100] + `…" ` + notPlanID},
		{name: "run-traversal", method: "GET", path: "/v1/runs/..%2Fplans%2Fsha256-" + hex, header: auth,
			status: 404, kind: "not_found", error: `no run "../plans/sha256-` + hex + `"`},
		{name: "run-resume-traversal", method: "POST", path: "/v1/runs/..%2F..%2Foutside/resume", header: auth,
			status: 404, kind: "not_found", error: `no run "../../outside"`},
		{name: "run-cancel-traversal", method: "POST", path: "/v1/runs/..%2F..%2Foutside/cancel", header: auth,
			status: 404, kind: "not_found", error: `no run "../../outside"`},
		{name: "run-events-traversal", method: "GET", path: "/v1/runs/..%2F..%2Foutside/events", header: auth,
			status: 404, kind: "not_found", error: `no run "../../outside"`},
		{name: "run-unknown", method: "POST", path: "/v1/runs/" + strings.Repeat("A", 26) + "/resume", header: auth,
			status: 404, kind: "not_found", error: `no run "` + strings.Repeat("A", 26) + `"`},
		{name: "run-dot-dot", method: "GET", path: "/v1/runs/../../outside", header: auth,
			status: 404, kind: "not_found", error: "no route GET /outside"},
	})
	assert.Equal(t, before, snapshot(t, filepath.Dir(ts.stateDir)), "nothing changed in or beside the state directory")
}

// TestServeAttackTokenNewRoutes calls every route of plans and runs, and
// /metrics, without the token: refused, nothing ran, nothing changed.
func TestServeAttackTokenNewRoutes(t *testing.T) {
	exec, ran := marker(t)
	ts := newTestServer(t, exec)
	id := ts.reviewed(t)
	before := snapshot(t, ts.stateDir)
	body := requestBody(t, "testdata/requests.json")
	run := strings.Repeat("A", 26)
	var attacks []attack
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/v1/plans", body},
		{"GET", "/v1/plans/" + id, ""},
		{"POST", "/v1/plans/" + id + "/apply", ""},
		{"GET", "/v1/runs", ""},
		{"POST", "/v1/runs/" + run + "/cancel", ""},
		{"POST", "/v1/runs/" + run + "/resume", ""},
		{"GET", "/metrics", ""},
	} {
		attacks = append(attacks,
			attack{name: "missing" + r.method + r.path, method: r.method, path: r.path, body: r.body,
				header: map[string]string{"Content-Type": "application/json"},
				status: 401, kind: "unauthorized", error: "missing bearer token"},
			attack{name: "wrong" + r.method + r.path, method: r.method, path: r.path, body: r.body,
				header: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer wrong-token-0123456789abcdef"},
				status: 401, kind: "unauthorized", error: "wrong bearer token"})
	}
	checkAttacks(t, ts, ran, attacks)
	assert.Equal(t, before, snapshot(t, ts.stateDir))
}

// TestServeAttackCrossOriginApply posts from a web page to apply a
// reviewed plan, and to resume or cancel a run, with the token: refused.
func TestServeAttackCrossOriginApply(t *testing.T) {
	exec, ran := marker(t)
	ts := newTestServer(t, exec)
	id := ts.reviewed(t)
	before := snapshot(t, ts.stateDir)
	auth := "Bearer " + testToken
	var attacks []attack
	for _, path := range []string{"/v1/plans/" + id + "/apply", "/v1/runs/" + strings.Repeat("A", 26) + "/resume",
		"/v1/runs/" + strings.Repeat("A", 26) + "/cancel", "/v1/plans"} {
		attacks = append(attacks,
			attack{name: "origin" + path, method: "POST", path: path, body: "{}",
				header: map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example", "Authorization": auth},
				status: 403, kind: "cross_origin", error: `cross-origin request from "https://evil.example" refused`},
			attack{name: "sec-fetch-site" + path, method: "POST", path: path,
				header: map[string]string{"Sec-Fetch-Site": "cross-site", "Authorization": auth},
				status: 403, kind: "cross_origin", error: "Sec-Fetch-Site"},
		)
	}
	checkAttacks(t, ts, ran, attacks)
	assert.Equal(t, before, snapshot(t, ts.stateDir))
}

// FuzzStateIDs checks that no ID becomes a file name outside its
// directory: an ID is refused, or its name is the directory, then one
// plain name.
func FuzzStateIDs(f *testing.F) {
	for _, id := range []string{"sha256:" + strings.Repeat("ab", 32), "../x", "sha256:../../x", strings.Repeat("A", 26), "AAAA/../../B", "", "\x00"} {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		check := func(name, dir string, err error) {
			if err != nil {
				assert.True(t, isIDError(err), "%T %v", err, err)
				assert.Contains(t, err.Error(), fmt.Sprintf("%q", truncate(id)))
				return
			}
			base, ok := strings.CutPrefix(name, dir)
			assert.True(t, ok, name)
			assert.True(t, fs.ValidPath(name), name)
			assert.NotContains(t, base, "/")
			assert.NotContains(t, base, "..")
			assert.Equal(t, filepath.Base(name), base)
		}
		name, err := planFile(id)
		check(name, "plans/", err)
		name, err = runFile(id, ".json")
		check(name, "runs/", err)
	})
}
