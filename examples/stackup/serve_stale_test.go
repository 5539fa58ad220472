package main

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// newLearningServer is a test server whose runs teach the topology file
// what they did, as serve's do.
func newLearningServer(t *testing.T, exec string) *testServer {
	t.Helper()
	e := newApplyEnv(t)
	ts := startTestServer(t, e, filepath.Join(t.TempDir(), "state"), t.Context(), 0, e.topo, exec, access{token: testToken}, slog.New(slog.DiscardHandler))
	inv := newInventory(&inputFlags{topology: e.topo})
	ts.srv.learn = func(ctx context.Context, steps []upgrade.Step) error {
		if err := inv.LearnAll(ctx, steps); err != nil {
			return err
		}
		ts.srv.env.changed()
		return nil
	}
	return ts
}

// TestServeStoredPlanStaleAfterCoTenantChange: a plan stored with POST
// /v1/plans is refused at apply (409, stale) once a node on a node it
// upgrades requires, since, less than the plan's version of it: billing
// 3.3, applied and learned meanwhile, needs Tomcat below 10, and the
// stored shop plan takes tomcat-1 to 10.1. A new plan is refused too.
func TestServeStoredPlanStaleAfterCoTenantChange(t *testing.T) {
	const billingNeedsOldTomcat = `{"requests": [{"application": "billing", "replaces": "billing_app", "template": {"id": "billing_app", "type": "webapp", "version": "3.3.0",
  "requirements": [{"name": "host", "template": "tomcat_server", "constraint": ">=8.5.50, <10", "relation": "hosted_on"}]}}]}`
	ts := newLearningServer(t, "true")
	shop := requestBody(t, "testdata/requests.json")
	code, answer := ts.post(t, "/v1/plans", shop)
	require.Equal(t, http.StatusCreated, code, answer)
	planID := answer["id"].(string)

	code, answer = ts.post(t, "/v1/apply", billingNeedsOldTomcat)
	require.Equal(t, http.StatusAccepted, code, answer)
	events := ts.follow(t, answer["events"].(string), "")
	require.Contains(t, events[len(events)-1].data, `"state":"succeeded"`)

	code, answer = ts.post(t, "/v1/plan", shop)
	require.Equal(t, http.StatusUnprocessableEntity, code, "a new plan is refused: %v", answer)

	code, answer = ts.post(t, "/v1/plans/"+planID+"/apply", "")
	require.Equal(t, http.StatusConflict, code, "the stored plan breaks billing-1's constraint now: %v", answer)
	assert.Equal(t, "stale", answer["kind"])
	assert.Contains(t, answer["error"], `node "billing-1" (billing) now requires >=8.5.50, <10 of node "tomcat-1"`)
}
