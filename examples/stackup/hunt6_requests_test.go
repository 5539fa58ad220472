package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newHunt6LearningServer is a server as serve runs it: its inventory
// learns each step's result into a copy of testdata/shop.yaml (e.topo),
// which the plans to come read. Its steps append to the ledger.
func newHunt6LearningServer(t *testing.T) *testServer {
	t.Helper()
	e := newApplyEnv(t)
	ts := startTestServer(t, e, filepath.Join(t.TempDir(), "state"), t.Context(), 0, e.topo, e.record(), access{token: testToken}, slog.New(slog.DiscardHandler))
	ts.srv.learnInto(newInventory(&inputFlags{topology: e.topo}))
	return ts
}

// hunt6Request returns a request body upgrading shop to template id 2.0.0
// of type webapp, with the requirements given (JSON objects).
func hunt6Request(id string, requirements ...string) string {
	return `{"requests": [{"application": "shop", "replaces": "shop_app", "template": {"id": "` + id +
		`", "type": "webapp", "version": "2.0.0", "requirements": [` + strings.Join(requirements, ", ") + `]}}]}`
}

const hunt6Host = `{"name": "host", "template": "tomcat_server", "constraint": ">=10.1, <11", "relation": "hosted_on"}`

// hunt6Refused checks that body, posted to /v1/apply, was refused with a
// 4xx naming want, and that nothing ran and the topology is unchanged.
// A run accepted is followed to its end, which the failure shows, with
// the shop nodes as the topology then records them.
func hunt6Refused(t *testing.T, ts *testServer, body, want string) {
	t.Helper()
	before, err := os.ReadFile(ts.topo)
	require.NoError(t, err)
	code, answer := ts.post(t, "/v1/apply", body)
	if code == http.StatusAccepted {
		events := ts.follow(t, answer["events"].(string), "")
		var done map[string]any
		require.NoError(t, json.Unmarshal([]byte(events[len(events)-1].data), &done))
		after, err := os.ReadFile(ts.topo)
		require.NoError(t, err)
		var shop []string
		for line := range strings.Lines(string(after)) {
			if strings.Contains(line, "{id: shop-") {
				shop = append(shop, strings.TrimSpace(line))
			}
		}
		t.Fatalf("the request was accepted (202), not refused naming %q: %d steps ran, and the run ended %v (error: %v); the topology now holds:\n%s",
			want, strings.Count(ts.readLedger(t), "\n"), done["state"], done["error"], strings.Join(shop, "\n"))
	}
	assert.True(t, code >= 400 && code < 500, "want the request refused before anything runs, got %d %v", code, answer)
	assert.Contains(t, fmt.Sprint(answer["error"]), want, "the error names the offending item")
	assert.Empty(t, ts.readLedger(t), "no step ran")
	after, err := os.ReadFile(ts.topo)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "the topology did not change")
}

// TestHunt6ServeRequestTooManyRequirementsOnOneTemplate: a request whose
// new template has 65 requirements on tomcat_server, one more than a
// topology allows on one template, plans (the planner takes any number),
// but the inventory could never record the template: the server refuses
// it (inventory.Admits), 400 naming the template, before any step runs,
// rather than run every step and end failed with the nodes unrecorded.
func TestHunt6ServeRequestTooManyRequirementsOnOneTemplate(t *testing.T) {
	ts := newHunt6LearningServer(t)
	reqs := make([]string, 65)
	for i := range reqs {
		reqs[i] = hunt6Host
	}
	hunt6Refused(t, ts, hunt6Request("shop_app", reqs...), "tomcat_server")
}

// TestHunt6ServeRequestTemplateOfAnotherApplication: a request for the
// shop whose new template's ID is billing_app, another application's
// template (a topology holds each template ID once), is refused by the
// planner, 400 naming billing_app; nothing runs.
func TestHunt6ServeRequestTemplateOfAnotherApplication(t *testing.T) {
	ts := newHunt6LearningServer(t)
	hunt6Refused(t, ts, hunt6Request("billing_app", hunt6Host), "billing_app")
}

// TestHunt6ServeRequestTemplateIsPlatformTemplate: a request replacing
// shop_app with a template of type webapp whose ID is tomcat_server, the
// shop's platform template of type tomcat, is refused by the planner, 400
// naming tomcat_server; before, the run succeeded and the inventory then
// recorded the shop nodes as Tomcat servers.
func TestHunt6ServeRequestTemplateIsPlatformTemplate(t *testing.T) {
	ts := newHunt6LearningServer(t)
	hunt6Refused(t, ts, hunt6Request("tomcat_server", hunt6Host), "tomcat_server")
}

// TestHunt6ApplyRefusesUnrecordableTemplate: apply, which learns each
// step into the topology file, refuses before anything runs a plan whose
// new template the file could not hold (65 requirements on one
// template), naming the file and the template, and leaves the file as it
// was; with --learn=false, which writes no file, it runs.
func TestHunt6ApplyRefusesUnrecordableTemplate(t *testing.T) {
	e := newApplyEnv(t)
	var b strings.Builder
	b.WriteString("requests:\n  - application: shop\n    replaces: shop_app\n    template:\n      id: shop_app\n      type: webapp\n      version: 2.0.0\n      requirements:\n")
	for range 65 {
		b.WriteString(`        - {template: tomcat_server, constraint: ">=10.1, <11", relation: hosted_on}` + "\n")
	}
	requests := filepath.Join(t.TempDir(), "requests.yaml")
	require.NoError(t, os.WriteFile(requests, []byte(b.String()), 0o600))
	before, err := os.ReadFile(e.topo)
	require.NoError(t, err)

	r := stackup(t, append(e.args("--exec", e.record()), "--requests", requests)...)
	assert.Equal(t, exitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, e.topo+" could not record the plan's application steps")
	assert.Contains(t, r.stderr, `65 requirements name template "tomcat_server", at most 64`)
	assert.Empty(t, e.readLedger(t), "nothing ran")
	after, err := os.ReadFile(e.topo)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after))

	r = stackup(t, append(e.args("--exec", e.record()), "--requests", requests, "--learn=false")...)
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.NotEmpty(t, e.readLedger(t))
}
