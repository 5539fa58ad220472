package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// billingBelowTomcat10 asks for billing 3.3.0, which runs only on a
// Tomcat below 10: its plan changes billing-1 alone, which runs on
// tomcat-1, a node of the shop application that the shop plan takes to
// 10.1.34.
const billingBelowTomcat10 = `{"requests": [{"application": "billing", "replaces": "billing_app", "template": {"id": "billing_app", "type": "webapp", "version": "3.3.0",
  "requirements": [{"name": "host", "template": "tomcat_server", "constraint": ">=8.5.50, <10", "relation": "hosted_on"}]}}]}`

// TestHunt14CoTenantRunsNotSideBySide: two runs of two applications that
// share a Tomcat do not run side by side when one would break what the
// other needs: while the shop run takes tomcat-1 to 10.1.34, an apply of
// billing 3.3.0, which needs a Tomcat below 10 and runs on tomcat-1, is
// refused (409 busy, naming the shop run), and so is the shop apply while
// the billing run goes on. One after the other, the stale check refuses
// the second; side by side, both ran, and left billing 3.3.0 on Tomcat
// 10.1.34.
func TestHunt14CoTenantRunsNotSideBySide(t *testing.T) {
	shop := requestBody(t, "testdata/requests.json")
	for _, tc := range []struct {
		name          string
		first, second string
		refusedStep   string // a step of the second plan, which must not run
	}{
		{"billing while shop runs", shop, billingBelowTomcat10, "app/billing-1@3.3.0"},
		{"shop while billing runs", billingBelowTomcat10, shop, "platform/tomcat-1@10.1.34"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gate := filepath.Join(t.TempDir(), "gate")
			ts := newLearningServer(t, `sh -c 'while [ ! -e "$1" ]; do sleep 0.02; done; echo "$2" >> "$3"' sh `+gate+` {{.ID}} LEDGER`)
			code, first := ts.post(t, "/v1/apply", tc.first)
			require.Equal(t, http.StatusAccepted, code, first)

			code, second := ts.post(t, "/v1/apply", tc.second)
			assert.Equal(t, http.StatusConflict, code, "the second run would break what the first relies on: %v", second)
			assert.Equal(t, "busy", second["kind"])
			assert.Equal(t, first["run"], second["run"])
			assert.Contains(t, second["error"], "tomcat-1")
			assert.Contains(t, second["error"], "10.1.34")
			assert.Contains(t, second["error"], ">=8.5.50, <10")

			require.NoError(t, os.WriteFile(gate, nil, 0o644))
			events := ts.follow(t, first["events"].(string), "")
			assert.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)
			if code == http.StatusAccepted {
				ts.follow(t, second["events"].(string), "")
			}
			assert.NotContains(t, strings.Split(ts.readLedger(t), "\n"), tc.refusedStep, "the second plan ran")
		})
	}
}

// TestHunt14ServeCommandsAsApplys: serve runs a step's command as apply
// does: each line it prints starts with "[STEP-ID] " (runs of several
// applications, and the steps of one with --concurrency above 1, run
// side by side, their lines in one log), and a step cut short by
// --step-timeout fails saying so. serve's commands printed bare lines,
// mixed in its log, and a timed-out step failed with "execute command
// stopped: context deadline exceeded", naming no flag.
func TestHunt14ServeCommandsAsApplys(t *testing.T) {
	e := newApplyEnv(t)
	in := inputFlags{topology: e.topo, repo: e.repo, keys: stringList{e.key}, policy: "newest"}
	env, err := in.load(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { env.Close() })
	state, err := openStateDir(filepath.Join(t.TempDir(), "state"))
	require.NoError(t, err)
	t.Cleanup(func() { state.Close() })
	// Every step prints a line; tomcat-1's first hangs, until the step
	// timeout stops it.
	rf := runFlags{exec: `sh -c 'echo "said by $1"; [ "$1" != platform/tomcat-1@9.0.98 ] || exec sleep 60' sh {{.ID}}`,
		concurrency: 2, continueOn: true, stepTimeout: 3 * time.Second}
	require.NoError(t, rf.check())
	var out syncBuffer
	srv, err := newServer(t.Context(), env, &rf, access{token: testToken}, state, &out, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: 20 * time.Second, Transport: bearer{testToken, http.DefaultTransport}}
	ts := &testServer{applyEnv: e, srv: srv, hs: hs, state: state, url: hs.URL, client: client}

	code, answer := ts.post(t, "/v1/apply", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusAccepted, code, answer)
	events := ts.follow(t, answer["events"].(string), "")
	var status map[string]any
	require.NoError(t, json.Unmarshal([]byte(events[len(events)-1].data), &status))
	assert.Equal(t, "failed", status["steps"].(map[string]any)["platform/tomcat-1@9.0.98"])
	var timedOut string
	for _, ev := range events {
		if strings.Contains(ev.data, `"kind":"failed"`) {
			timedOut = ev.data
		}
	}
	assert.Contains(t, timedOut, "timed out after 3s (--step-timeout)")
	assert.Contains(t, out.String(), "[platform/java-1@17.0.13] said by platform/java-1@17.0.13\n")
	assert.Contains(t, out.String(), "[platform/java-2@17.0.13] said by platform/java-2@17.0.13\n")
	assert.NotContains(t, "\n"+out.String(), "\nsaid by", "a line without its step")
}

// TestHunt14BodyWithByteOrderMark: a request file that an editor saved
// with a UTF-8 byte-order mark, which plan --requests reads, is read as
// well when posted as it is (curl --data-binary @requests.json), and so
// is a "{}" with one. serve refused it, 400 "invalid character 'ï'
// looking for beginning of value", which named neither the mark nor what
// to do.
func TestHunt14BodyWithByteOrderMark(t *testing.T) {
	ts := newTestServer(t, "true")
	body := "\ufeff" + requestBody(t, "testdata/requests.json")
	r := stackup(t, "plan", "--topology", "testdata/shop.yaml", "--repo", ts.repo, "--key", ts.key, "--requests", writeTemp(t, "requests.json", body), "--format", "json")
	require.Equal(t, exitOK, r.code, "the CLI reads it: %s", r.stderr)

	code, plan := ts.post(t, "/v1/plans", body)
	require.Equal(t, http.StatusCreated, code, plan)
	code, answer := ts.post(t, "/v1/plans/"+plan["id"].(string)+"/apply", "\ufeff{}")
	require.Equal(t, http.StatusAccepted, code, answer)
	ts.follow(t, answer["events"].(string), "")
}

// writeTemp writes data to a file name in a directory of its own, and
// returns its path.
func writeTemp(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(data), 0o644))
	return path
}
