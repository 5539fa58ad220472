package upgrade_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	assert.Equal(t, string(want), string(got), "output differs from %s; if intended, run go test -update", path)
}

func TestTextGolden(t *testing.T) {
	// Two instances, one of them sharing its Tomcat with a billing node of
	// another application, with an OS requirement already met.
	b := shopBuilder(2).
		Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: v("3.1.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(">=8.5")}}}).
		Node("billing", topology.Node{ID: "billing-1", Template: "billing_app", Relationships: on("tomcat-1")})
	plan, err := upgrade.NewPlanner(build(t, b), catalogue(t)).
		Plan(context.Background(), shop2("tomcat_server", ">=9.0, <11", "java_runtime", ">=11", "ubuntu_os", ">=18.04"))
	require.NoError(t, err)
	golden(t, "shop.txt", []byte(plan.String()))
}

// goldenPlan is the plan behind the rendering golden files: two shop
// instances, one sharing its Tomcat with billing, Tomcat 10 needing Java 11,
// an OS requirement already met, and a two-hop Java path.
func goldenPlan(t *testing.T) *upgrade.Plan {
	t.Helper()
	b := withBilling(shopBuilder(2), "<11")
	src := source(t,
		pkg("tomcat", "9.0.98"), requires(pkg("tomcat", "10.1.34"), "jdk", ">=11"), pkg("tomcat", "11.0.2"),
		from(pkg("jdk", "11.0.22"), "8.x"), from(pkg("jdk", "17.0.10"), ">=11, <17"), pkg("jdk", "21.0.2-ea"))
	plan, err := upgrade.NewPlanner(build(t, b), src).
		Plan(context.Background(), shop2("tomcat_server", ">=9.0", "ubuntu_os", ">=18.04", "java_runtime", ">=17"))
	require.NoError(t, err)
	return plan
}

func TestRenderingsGolden(t *testing.T) {
	plan := goldenPlan(t)
	var text, js, mermaid, dot, explain strings.Builder
	require.NoError(t, plan.WriteText(&text))
	require.NoError(t, plan.WriteJSON(&js))
	require.NoError(t, plan.WriteMermaid(&mermaid))
	require.NoError(t, plan.WriteDOT(&dot))
	require.NoError(t, plan.Explain(&explain, "tomcat-1"))
	require.NoError(t, plan.Explain(&explain, "java-1"))
	require.NoError(t, plan.Explain(&explain, "vm-1"))
	require.NoError(t, plan.Explain(&explain, "shop-1"))
	golden(t, "golden.txt", []byte(text.String()))
	golden(t, "golden.json", []byte(js.String()))
	golden(t, "golden.mmd", []byte(mermaid.String()))
	golden(t, "golden.dot", []byte(dot.String()))
	golden(t, "golden.explain.txt", []byte(explain.String()))
}

func TestExplainUnknownNode(t *testing.T) {
	err := goldenPlan(t).Explain(io.Discard, "nope")
	require.ErrorIs(t, err, topology.ErrNotFound)
	assert.Equal(t, `upgrade: node "nope" not found in the plan: it has no step or check of the node; name one that the plan upgrades, replaces or checks`, err.Error())
	err = goldenPlan(t).Explain(io.Discard, "\x1b[2Jnope") // a hostile argument is quoted
	assert.Contains(t, err.Error(), `node "\x1b[2Jnope" not found`)
}

func TestJSONRoundTrip(t *testing.T) {
	plan := goldenPlan(t)
	require.True(t, strings.HasPrefix(plan.ID, "sha256:"))
	var buf bytes.Buffer
	require.NoError(t, plan.WriteJSON(&buf))
	assert.Contains(t, buf.String(), `"schema": "stackup.plan/v3"`)
	back, err := upgrade.ReadJSON(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, plan.ID, back.ID)
	var again bytes.Buffer
	require.NoError(t, back.WriteJSON(&again))
	assert.Equal(t, buf.String(), again.String(), "a plan read back writes the same bytes")
	assert.Equal(t, plan.String(), back.String())
}

func TestReadJSONRefuses(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, goldenPlan(t).WriteJSON(&buf))
	good := buf.String()
	tests := map[string]string{
		"edited step":    strings.Replace(good, `"to": "10.1.34"`, `"to": "10.1.35"`, 1),
		"other schema":   strings.Replace(good, "stackup.plan/v3", "stackup.plan/v9", 1),
		"unknown field":  strings.Replace(good, `"schema"`, `"extra": 1, "schema"`, 1),
		"syntax":         good[:len(good)/2],
		"not an object":  `[]`,
		"unknown kind":   strings.Replace(good, `"kind": "platform"`, `"kind": "magic"`, 1),
		"bad version":    strings.Replace(good, `"to": "10.1.34"`, `"to": "ten"`, 1),
		"empty document": ``,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			require.NotEqual(t, good, in)
			_, err := upgrade.ReadJSON(strings.NewReader(in))
			assert.ErrorIs(t, err, upgrade.ErrInvalidPlan)
		})
	}
	t.Run("schema v1", func(t *testing.T) {
		// v1 copied each application step's template into it.
		v1 := strings.Replace(good, "stackup.plan/v3", "stackup.plan/v1", 1)
		v1 = strings.Replace(v1, `"kind": "application",`, `"kind": "application", "new_template": {},`, 1)
		require.NotEqual(t, good, v1)
		_, err := upgrade.ReadJSON(strings.NewReader(v1))
		assert.ErrorIs(t, err, upgrade.ErrInvalidPlan)
		assert.ErrorContains(t, err, `schema "stackup.plan/v1", want "stackup.plan/v3": plan again`)
	})
	t.Run("schema v2", func(t *testing.T) {
		// v2 held a node's demands and candidates on its last step.
		v2 := strings.Replace(good, "stackup.plan/v3", "stackup.plan/v2", 1)
		v2 = strings.Replace(v2, `"kind": "platform",`, `"kind": "platform", "demands": [], "candidates": [],`, 1)
		_, err := upgrade.ReadJSON(strings.NewReader(v2))
		assert.ErrorIs(t, err, upgrade.ErrInvalidPlan)
		assert.ErrorContains(t, err, `schema "stackup.plan/v2", want "stackup.plan/v3": plan again`)
	})
}

// A plan's decisions hold each list of candidates once in JSON: a node
// decided as an earlier one names it in candidates_of, and reading it
// back shares the list. A candidates_of that names nothing before, a
// decision of a node without platform steps, or decisions out of order,
// are refused, naming the decision, after the ID is made to match.
func TestJSONDecisions(t *testing.T) {
	plan := goldenPlan(t)
	var buf bytes.Buffer
	require.NoError(t, plan.WriteJSON(&buf))
	good := buf.String()
	require.Equal(t, 1, strings.Count(good, `"candidates_of": "java-1"`), "java-2 decided as java-1")
	back, err := upgrade.ReadJSON(strings.NewReader(good))
	require.NoError(t, err)
	assert.Equal(t, plan.Decisions, back.Decisions)
	j1, ok := back.Decision("java-1")
	require.True(t, ok)
	j2, ok := back.Decision("java-2")
	require.True(t, ok)
	assert.Same(t, &j1.Candidates[0], &j2.Candidates[0], "read back, the list is shared")
	_, ok = back.Decision("shop-1")
	assert.False(t, ok, "an application node has no decision")

	rehash := func(t *testing.T, data string) string {
		var p struct{ ID string }
		require.NoError(t, json.Unmarshal([]byte(data), &p))
		_, err := upgrade.ReadJSON(strings.NewReader(data))
		m := regexp.MustCompile(`does not match its content \((sha256:[0-9a-f]{64})\)`).FindStringSubmatch(fmt.Sprint(err))
		if m == nil {
			return data // refused before the ID is checked
		}
		return strings.Replace(data, p.ID, m[1], 1)
	}
	for name, tc := range map[string]struct{ from, to, want string }{
		"unknown candidates_of": {`"candidates_of": "java-1"`, `"candidates_of": "java-9"`, `decisions[1]: candidates_of java-9 names no earlier decision`},
		"later candidates_of":   {`"candidates_of": "java-1"`, `"candidates_of": "tomcat-1"`, `decisions[1]: candidates_of tomcat-1 names no earlier decision`},
		"not a platform node":   {`"node": "tomcat-2",` + "\n      \"demands\"", `"node": "zzz-1",` + "\n      \"demands\"", `decisions[3]: node zzz-1 has no platform step`},
		"out of order":          {`"node": "tomcat-2",` + "\n      \"demands\"", `"node": "java-3",` + "\n      \"demands\"", `decisions[3]: node java-3 is not after tomcat-1`},
		"bad constraint":        {`"constraint": "<11",`, `"constraint": "<eleven",`, `decisions[2].demands[1].constraint: version: invalid constraint "<eleven"`},
	} {
		t.Run(name, func(t *testing.T) {
			bad := strings.Replace(good, tc.from, tc.to, 1)
			require.NotEqual(t, good, bad)
			_, err := upgrade.ReadJSON(strings.NewReader(rehash(t, bad)))
			require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

// ComputeID is the ID a plan's content hashes to: the planner's, and, for
// a plan changed after, the one ReadJSON then accepts.
func TestPlanComputeID(t *testing.T) {
	plan := goldenPlan(t)
	assert.Equal(t, plan.ID, plan.ComputeID())
	plan.Warnings = append(plan.Warnings, "changed")
	assert.NotEqual(t, plan.ID, plan.ComputeID())
	var buf bytes.Buffer
	require.NoError(t, plan.WriteJSON(&buf))
	_, err := upgrade.ReadJSON(bytes.NewReader(buf.Bytes()))
	require.ErrorIs(t, err, upgrade.ErrInvalidPlan, "the old ID no longer matches")
	plan.ID = plan.ComputeID()
	buf.Reset()
	require.NoError(t, plan.WriteJSON(&buf))
	back, err := upgrade.ReadJSON(&buf)
	require.NoError(t, err)
	assert.Equal(t, plan.Warnings, back.Warnings)
}

// spaces is an endless reader of blanks.
type spaces struct{}

var blanks = bytes.Repeat([]byte{' '}, 64<<10)

func (spaces) Read(p []byte) (int, error) { return copy(p, blanks), nil }

func TestReadJSONRefusesOversizedPlan(t *testing.T) {
	_, err := upgrade.ReadJSON(io.LimitReader(spaces{}, upgrade.MaxPlanSize+1))
	require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
	assert.Contains(t, err.Error(), "larger than")
}

func TestPlanIDChangesWithContent(t *testing.T) {
	a := goldenPlan(t)
	b := goldenPlan(t)
	assert.Equal(t, a.ID, b.ID)
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).Plan(context.Background(), shop2("tomcat_server", ">=9"))
	require.NoError(t, err)
	nearest, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t), upgrade.WithPolicy(upgrade.Nearest)).
		Plan(context.Background(), shop2("tomcat_server", ">=9"))
	require.NoError(t, err)
	assert.NotEqual(t, plan.ID, nearest.ID)
	assert.NotEqual(t, a.ID, plan.ID)
}

func TestReadJSONLinksRequestTemplates(t *testing.T) {
	plan := shopPlan(t, 2)
	var buf bytes.Buffer
	require.NoError(t, plan.WriteJSON(&buf))
	assert.NotContains(t, buf.String(), "new_template", "the JSON names the request, not a copy of its template")
	back, err := upgrade.ReadJSON(&buf)
	require.NoError(t, err)
	for i, s := range back.Steps {
		if s.Kind == upgrade.Application {
			require.NotNil(t, s.NewTemplate, s.ID)
			assert.Equal(t, plan.Steps[i].NewTemplate, s.NewTemplate)
		}
	}

	// A plan whose application step names a request it does not have.
	last := len(plan.Steps) - 1
	plan.Steps[last].Request = 5
	bad, err := plan.Roll(upgrade.Rolling{}) // a copy with its ID worked out again
	require.NoError(t, err)
	buf.Reset()
	require.NoError(t, bad.WriteJSON(&buf))
	_, err = upgrade.ReadJSON(&buf)
	require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
	assert.Contains(t, err.Error(), "names request #6 of 1")
}

// TestWriteTextCounts checks the plural forms of the summary line and of
// Explain.
func TestWriteTextCounts(t *testing.T) {
	b := shopBuilder(1)
	plan, err := upgrade.NewPlanner(build(t, b), source(t, pkg("tomcat", "9.0.98"))).
		Plan(context.Background(), shop2("tomcat_server", ">=9.0", "ubuntu_os", ">=18.04"))
	require.NoError(t, err)
	require.Len(t, plan.Steps, 2)
	require.Len(t, plan.Satisfied, 1)
	assert.True(t, strings.HasPrefix(plan.String(), "Upgrade plan: 2 steps (1 platform, 1 application), 1 requirement already met\n"), plan.String())
	var explain strings.Builder
	require.NoError(t, plan.Explain(&explain, "tomcat-1"))
	assert.Contains(t, explain.String(), "8.5.100 → 9.0.98 in 1 step\n")

	one := &upgrade.Plan{Steps: plan.Steps[:1]}
	assert.True(t, strings.HasPrefix(one.String(), "Upgrade plan: 1 step (1 platform, 0 application), 0 requirements already met\n"), one.String())
	none := &upgrade.Plan{}
	assert.Contains(t, none.String(), "Upgrade plan: 0 steps (0 platform, 0 application), 0 requirements already met\n\n")
	assert.Contains(t, none.String(), "No changes.")
}
