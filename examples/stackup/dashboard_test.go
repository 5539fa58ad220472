package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// getRaw gets path from ts with the token unless anonymous, and returns
// the answer with its body read.
func (ts *testServer) getRaw(t *testing.T, path string, anonymous bool) (*http.Response, string) {
	t.Helper()
	client := ts.client
	if anonymous {
		client = http.DefaultClient
	}
	resp, err := client.Get(ts.url + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(data)
}

// wellFormed checks that svg is one well-formed XML document.
func wellFormed(t *testing.T, svg string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		require.NoError(t, err, "the SVG is not well-formed XML")
	}
}

// TestDashboardPage serves the page and its assets without a token, with
// a strict Content-Security-Policy, and nothing inline that the policy
// would have to allow.
func TestDashboardPage(t *testing.T) {
	ts := newTestServer(t, "true")
	resp, page := ts.getRaw(t, "/", true)
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	csp := resp.Header.Get("Content-Security-Policy")
	for _, directive := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
		assert.Contains(t, csp, directive)
	}
	assert.NotContains(t, csp, "unsafe-inline")
	assert.NotContains(t, csp, "unsafe-eval")
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
	assert.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
	assert.Contains(t, page, `<input id="token" name="token" type="password"`)
	assert.NotRegexp(t, `<script(\s[^>]*)?>[^<]`, page, "no inline script")
	assert.NotContains(t, page, "<style")
	assert.NotContains(t, page, " style=")
	assert.NotContains(t, page, "http://", "no external resource")
	assert.NotContains(t, page, "https://", "no external resource")

	for _, a := range []struct{ path, contentType string }{
		{"/ui/app.js", "text/javascript; charset=utf-8"},
		{"/ui/style.css", "text/css; charset=utf-8"},
	} {
		assert.Contains(t, page, a.path+"?v=", "the page links %s with its hash", a.path)
		resp, body := ts.getRaw(t, a.path, true)
		assert.Equal(t, http.StatusOK, resp.StatusCode, a.path)
		assert.Equal(t, a.contentType, resp.Header.Get("Content-Type"), a.path)
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), a.path)
		assert.NotEmpty(t, body)
		assert.NotContains(t, body, "innerHTML", "%s puts text into the page with textContent", a.path)
	}
	resp, body := ts.getRaw(t, "/ui/secrets.txt", true)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, body)
	assert.Contains(t, body, `"kind": "not_found"`)
}

// TestDashboardDataNeedsToken refuses, without the token, every call that
// reads data, the plan's picture included; with it, the picture is there.
func TestDashboardDataNeedsToken(t *testing.T) {
	ts := newTestServer(t, "true")
	code, created := ts.post(t, "/v1/plans", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusCreated, code, created)
	id := created["id"].(string)
	code, started := ts.post(t, "/v1/plans/"+id+"/apply", "")
	require.Equal(t, http.StatusAccepted, code, started)
	run := started["run"].(string)
	ts.follow(t, started["events"].(string), "")

	for _, path := range []string{"/v1/runs", "/v1/runs/" + run, "/v1/runs/" + run + "/events", "/v1/plans/" + id, "/v1/plans/" + id + "/graph.svg",
		"/v1/plans/" + id + "/graph.svg?token=" + testToken} {
		resp, body := ts.getRaw(t, path, true)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, path)
		assert.Contains(t, body, `"kind": "unauthorized"`, path)
		assert.NotContains(t, body, "platform/java-1", "%s tells nothing of the plan", path)
	}

	resp, svg := ts.getRaw(t, "/v1/plans/"+id+"/graph.svg", false)
	require.Equal(t, http.StatusOK, resp.StatusCode, svg)
	assert.Equal(t, "image/svg+xml", resp.Header.Get("Content-Type"))
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	assert.Equal(t, "default-src 'none'; frame-ancestors 'none'", resp.Header.Get("Content-Security-Policy"))
	wellFormed(t, svg)
	for _, step := range allSteps {
		assert.Contains(t, svg, ">"+step+"<")
	}

	resp, body := ts.getRaw(t, "/v1/plans/sha256:"+strings.Repeat("0", 64)+"/graph.svg", false)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Contains(t, body, "no plan")
	resp, body = ts.getRaw(t, "/v1/plans/..%2F..%2Fetc%2Fpasswd/graph.svg", false)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Contains(t, body, `"kind": "not_found"`)
}

// TestDashboardGraphGolden draws the test deployment's plan, and a plan
// in batches joined by a barrier, as the golden files show them.
func TestDashboardGraphGolden(t *testing.T) {
	ts := newTestServer(t, "true")
	code, created := ts.post(t, "/v1/plans", requestBody(t, "testdata/requests.json"))
	require.Equal(t, http.StatusCreated, code, created)
	id := created["id"].(string)
	plan, err := ts.srv.state.loadPlan(id)
	require.NoError(t, err)

	var b bytes.Buffer
	require.NoError(t, writePlanSVG(&b, plan))
	wellFormed(t, b.String())
	checkGolden(t, "graph", b.String(), map[string]string{id: "$PLAN"})

	// Batches joined by a barrier, as Plan.Roll makes them.
	v1, v2 := version.MustParse("1.0.0"), version.MustParse("1.1.0")
	batched := &upgrade.Plan{ID: "sha256:batched",
		Steps: []upgrade.Step{
			{ID: "platform/db@1.1.0", Kind: upgrade.Platform, Node: "db", From: v1, To: v2},
			{ID: "app/web-1@1.1.0", Kind: upgrade.Application, Node: "web-1", From: v1, To: v2, After: []upgrade.StepID{"platform/db@1.1.0"}},
			{ID: "app/web-2@1.1.0", Kind: upgrade.Application, Node: "web-2", From: v1, To: v2, After: []upgrade.StepID{"platform/db@1.1.0"}},
			{ID: "app/web-3@1.1.0", Kind: upgrade.Application, Node: "web-3", From: v1, To: v2, After: []upgrade.StepID{"batch/shop/web/1"}},
			{ID: "app/web-4@1.1.0", Kind: upgrade.Application, Node: "web-4", From: v1, To: v2, After: []upgrade.StepID{"batch/shop/web/1"}},
		},
		Barriers: []upgrade.Barrier{{ID: "batch/shop/web/1", After: []upgrade.StepID{"app/web-1@1.1.0", "app/web-2@1.1.0"}, Reason: "the first batch"}},
	}
	b.Reset()
	require.NoError(t, writePlanSVG(&b, batched))
	wellFormed(t, b.String())
	checkGolden(t, "graph-batched", b.String(), nil)
	assert.Equal(t, 1, strings.Count(b.String(), `<g class="barrier">`))
	assert.Equal(t, 5, strings.Count(b.String(), `<g class="step `))
}

// hostileText is text an attacker would put in IDs and labels.
const hostileText = `<script>alert("x")</script>'"&amp;<!--]]>` + "\x00\x1b\n"

// TestDashboardGraphEscapes draws a plan whose IDs, nodes and reasons are
// hostileText: every one is escaped, and the picture stays well-formed.
func TestDashboardGraphEscapes(t *testing.T) {
	v1, v2 := version.MustParse("1.0.0"), version.MustParse("2.0.0")
	plan := &upgrade.Plan{
		ID: "sha256:" + hostileText,
		Steps: []upgrade.Step{
			{ID: upgrade.StepID("platform/" + hostileText), Kind: upgrade.Platform, Node: topology.NodeID(hostileText), From: v1, To: v2, Reason: hostileText},
			{ID: upgrade.StepID("app/" + hostileText), Kind: upgrade.Application, Node: topology.NodeID(`a"b`), From: v1, To: v2,
				After: []upgrade.StepID{upgrade.StepID("barrier/" + hostileText)}, Reason: `onload="alert(1)"`},
			{ID: "odd", Kind: upgrade.StepKind(9), From: v1, To: v2, After: []upgrade.StepID{"unknown <step>"}},
		},
		Barriers: []upgrade.Barrier{{ID: upgrade.StepID("barrier/" + hostileText), After: []upgrade.StepID{upgrade.StepID("platform/" + hostileText)}, Reason: hostileText}},
	}
	var b bytes.Buffer
	require.NoError(t, writePlanSVG(&b, plan))
	svg := b.String()
	wellFormed(t, svg)
	assert.NotContains(t, strings.ToLower(svg), "<script")
	assert.NotContains(t, svg, "<!--")
	assert.NotContains(t, svg, `"x"`)
	assert.NotContains(t, svg, `a"b`)
	assert.NotContains(t, svg, `onload="`)
	assert.NotContains(t, svg, "\x00")
	assert.NotContains(t, svg, "\x1b")
	assert.Contains(t, svg, "&lt;script&gt;alert(&#34;x&#34;)")
	assert.Contains(t, svg, "a&#34;b")
	assert.Equal(t, 1, strings.Count(svg, `<g class="barrier">`))
	assert.Equal(t, 3, strings.Count(svg, `<g class="step `))
}

// chainPlan returns a plan of n platform steps, each after the one before
// it when chained, else all side by side.
func chainPlan(n int, chained bool) *upgrade.Plan {
	v1, v2 := version.MustParse("1.0.0"), version.MustParse("2.0.0")
	plan := &upgrade.Plan{ID: "sha256:test"}
	for i := range n {
		st := upgrade.Step{ID: upgrade.StepID(fmt.Sprintf("platform/n%04d@2.0.0", i)), Kind: upgrade.Platform,
			Node: topology.NodeID(fmt.Sprintf("n%04d", i)), From: v1, To: v2}
		if chained && i > 0 {
			st.After = []upgrade.StepID{plan.Steps[i-1].ID}
		}
		plan.Steps = append(plan.Steps, st)
	}
	return plan
}

// TestDashboardGraphBound draws at most maxGraphNodes boxes, and says
// which part of a larger plan it shows.
func TestDashboardGraphBound(t *testing.T) {
	for _, tt := range []struct {
		name    string
		plan    *upgrade.Plan
		boxes   int
		caption string
	}{
		{"small", chainPlan(maxGraphNodes, true), maxGraphNodes, "500 steps, 0 barriers, 500 levels"},
		{"long chain", chainPlan(3000, true), maxGraphNodes, "3000 steps, 0 barriers: showing the first 500 levels (500 steps); 2500 more steps are not drawn"},
		{"wide level", chainPlan(3000, false), maxGraphNodes, "3000 steps, 0 barriers: showing the first 1 level (500 steps); 2500 more steps are not drawn"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, writePlanSVG(&b, tt.plan))
			svg := b.String()
			wellFormed(t, svg)
			assert.Equal(t, tt.boxes, strings.Count(svg, `<g class="step `))
			assert.Contains(t, svg, ">"+tt.caption+"<")
			assert.Less(t, len(svg), 1<<20, "the picture stays small")
		})
	}
	// Two levels of 300: only the first fits.
	plan := chainPlan(600, false)
	for i := 300; i < 600; i++ {
		plan.Steps[i].After = []upgrade.StepID{plan.Steps[0].ID}
	}
	var b bytes.Buffer
	require.NoError(t, writePlanSVG(&b, plan))
	assert.Equal(t, 300, strings.Count(b.String(), `<g class="step `))
	assert.Contains(t, b.String(), "showing the first 1 level (300 steps); 300 more steps are not drawn")
}

// TestDashboardPageRefusals answers the page only for the hosts the API
// answers (no DNS rebinding of the page either), and revalidates assets.
func TestDashboardPageRefusals(t *testing.T) {
	ts := newTestServer(t, "true")
	req, err := http.NewRequest("GET", ts.url+"/", nil)
	require.NoError(t, err)
	req.Host = "attacker.example"
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode)
	assert.NotContains(t, string(body), "<html")

	resp, _ = ts.getRaw(t, "/ui/app.js", true)
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag)
	req, err = http.NewRequest("GET", ts.url+"/ui/app.js", nil)
	require.NoError(t, err)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotModified, resp.StatusCode)

	resp, err = http.DefaultClient.Post(ts.url+"/", "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "only GET / is the page; other calls need the token")
}

// FuzzPlanSVG draws plans with arbitrary IDs, nodes, reasons and edges:
// the picture is always well-formed XML, with no markup from the data.
func FuzzPlanSVG(f *testing.F) {
	f.Add("platform/a@1", "app/b@1", "barrier/1", "node", "reason", uint8(3))
	f.Add(hostileText, `"><script>`, "]]>", "&amp;", "\xff\xfe", uint8(255))
	f.Fuzz(func(t *testing.T, a, b, barrier, node, reason string, edges uint8) {
		v1, v2 := version.MustParse("1.0.0"), version.MustParse("2.0.0")
		ids := []upgrade.StepID{upgrade.StepID(a), upgrade.StepID(b), upgrade.StepID(barrier)}
		pick := func(bits uint8) []upgrade.StepID {
			var out []upgrade.StepID
			for i, id := range ids {
				if bits&(1<<i) != 0 {
					out = append(out, id)
				}
			}
			return out
		}
		plan := &upgrade.Plan{ID: a + b,
			Steps: []upgrade.Step{
				{ID: upgrade.StepID(a), Kind: upgrade.Platform, Node: topology.NodeID(node), From: v1, To: v2, Reason: reason, After: pick(edges)},
				{ID: upgrade.StepID(b), Kind: upgrade.Application, Node: topology.NodeID(reason), From: v1, To: v2, Reason: node, After: pick(edges >> 3)},
			},
			Barriers: []upgrade.Barrier{{ID: upgrade.StepID(barrier), After: pick(edges >> 6), Reason: reason}},
		}
		var out bytes.Buffer
		require.NoError(t, writePlanSVG(&out, plan))
		svg := out.String()
		wellFormed(t, svg)
		d := xml.NewDecoder(strings.NewReader(svg))
		for {
			tok, err := d.Token()
			if err != nil {
				break
			}
			if el, ok := tok.(xml.StartElement); ok {
				assert.Contains(t, []string{"svg", "title", "defs", "marker", "path", "rect", "text", "g", "circle"}, el.Name.Local, "an element from the data")
				for _, attr := range el.Attr {
					assert.NotEqual(t, "onload", strings.ToLower(attr.Name.Local))
				}
			}
		}
	})
}
