package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
