package upgrade_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// hunt17Plan returns a plan made by hand of application steps of
// application shop, each with its ID as node, its ID set.
func hunt17Plan(steps []upgrade.Step, barriers []upgrade.Barrier) *upgrade.Plan {
	p := &upgrade.Plan{Requests: []upgrade.Request{{Application: "shop", Replaces: "shop_app",
		Template: topology.Template{ID: "shop_app", Version: v("2.0.0")}}}, Barriers: barriers}
	for _, s := range steps {
		s.Kind, s.App, s.Template, s.Node, s.From, s.To = upgrade.Application, "shop", "shop_app", topology.NodeID(s.ID), v("1.0.0"), v("2.0.0")
		p.Steps = append(p.Steps, s)
	}
	p.ID = p.ComputeID()
	return p
}

// TestHunt17ReadJSONRefusesStepsOutOfOrder reads plan files whose steps
// are not in the order the Plan documents (every step after all the
// steps in its After list, barriers standing for what they wait for),
// their IDs hashed again, as anyone can. ReadJSON used to accept them,
// and a host that deploys the steps of a plan file one by one, in order,
// as Plan promises it may, upgraded the shop before the Tomcat beneath
// it; WriteText numbered the steps in that order for the reviewer.
func TestHunt17ReadJSONRefusesStepsOutOfOrder(t *testing.T) {
	for name, p := range map[string]*upgrade.Plan{
		"direct": hunt17Plan([]upgrade.Step{{ID: "b", After: []upgrade.StepID{"a"}}, {ID: "a"}}, nil),
		"through a barrier": hunt17Plan([]upgrade.Step{{ID: "c"}, {ID: "b", After: []upgrade.StepID{"batch"}}, {ID: "a"}},
			[]upgrade.Barrier{{ID: "batch", After: []upgrade.StepID{"a", "c"}}}),
		"through two barriers": hunt17Plan([]upgrade.Step{{ID: "b", After: []upgrade.StepID{"y"}}, {ID: "a"}},
			[]upgrade.Barrier{{ID: "x", After: []upgrade.StepID{"a"}}, {ID: "y", After: []upgrade.StepID{"x"}}}),
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, p.WriteJSON(&buf))
			_, err := upgrade.ReadJSON(&buf)
			require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
			assert.ErrorContains(t, err, "step b comes before a")
		})
	}
	// In order, the same plans are read.
	for _, p := range []*upgrade.Plan{
		hunt17Plan([]upgrade.Step{{ID: "a"}, {ID: "b", After: []upgrade.StepID{"a"}}}, nil),
		hunt17Plan([]upgrade.Step{{ID: "a"}, {ID: "c"}, {ID: "b", After: []upgrade.StepID{"batch"}}},
			[]upgrade.Barrier{{ID: "batch", After: []upgrade.StepID{"a", "c"}}}),
	} {
		var buf bytes.Buffer
		require.NoError(t, p.WriteJSON(&buf))
		_, err := upgrade.ReadJSON(&buf)
		require.NoError(t, err)
	}
}

// TestHunt17InvalidPlanSaysWhatToDo reads plan files that cannot be
// run, as a reviewer's editor or an attacker leaves them, their IDs hashed
// again but for the edited one: each error matched ErrInvalidPlan and
// named the item, but most did not say what to do about it ("duplicate
// step ID a", "steps form a cycle: a → b → a"), as Run's for a plan built
// by hand did not.
func TestHunt17InvalidPlanSaysWhatToDo(t *testing.T) {
	after := func(ids ...upgrade.StepID) []upgrade.StepID { return ids }
	edited := hunt17Plan([]upgrade.Step{{ID: "a"}}, nil)
	edited.Steps[0].Reason = "edited"
	other := hunt17Plan([]upgrade.Step{{ID: "a"}}, nil)
	other.Steps[0].Request = 3
	other.ID = other.ComputeID()
	for name, tc := range map[string]struct {
		plan       *upgrade.Plan
		item, todo string
	}{
		"duplicate": {hunt17Plan([]upgrade.Step{{ID: "a"}, {ID: "a"}}, nil), "duplicate step ID a", "give each step and barrier an ID of its own"},
		"unknown":   {hunt17Plan([]upgrade.Step{{ID: "a", After: after("zz")}}, nil), "step a comes after unknown step zz", "add step zz to the plan or take it out of the After list"},
		"cycle": {hunt17Plan([]upgrade.Step{{ID: "a", After: after("b")}, {ID: "b", After: after("a")}}, nil), "steps form a cycle: a → b → a",
			"take one of them out of the After list of another"},
		"empty barrier": {hunt17Plan([]upgrade.Step{{ID: "a"}}, []upgrade.Barrier{{ID: "x"}}), "barrier x waits for no step",
			"list the steps it waits for in its After, or remove it"},
		"edited":        {edited, "does not match its content", "plan again"},
		"other request": {other, "step a names request #4 of 1", "name one of the plan's requests"},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, tc.plan.WriteJSON(&buf))
			_, err := upgrade.ReadJSON(&buf)
			require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
			assert.ErrorContains(t, err, tc.item)
			assert.ErrorContains(t, err, tc.todo)
			if name != "edited" && name != "other request" { // Run refuses the rest alike
				_, err = upgrade.Run(t.Context(), tc.plan, upgrade.ExecutorFunc(func(context.Context, upgrade.Step) error {
					t.Error("a step ran")
					return nil
				}))
				require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
				assert.ErrorContains(t, err, tc.todo)
			}
		})
	}
}

// TestHunt17ReadJSONRefusesMalformedPackages reads plan files whose
// platform step installs a package that pkgsource.Package.Validate
// refuses, as no source hands out and no index holds: a digest that is
// not sha256 and 64 lowercase hex digits, a negative size, no version.
// ReadJSON used to accept them (the ID hashed again): the plan was
// reviewed and approved, and the run found out only when it came to
// fetch the package ("cannot be verified: no sha256 digest declared"),
// perhaps after other steps had run.
func TestHunt17ReadJSONRefusesMalformedPackages(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*pkgsource.Package)
		want string
	}{
		"uppercase digest": {func(p *pkgsource.Package) { p.Digest = "sha256:" + strings.Repeat("AB", 32) }, "digest"},
		"md5 digest":       {func(p *pkgsource.Package) { p.Digest = "md5:d41d8cd98f00b204e9800998ecf8427e" }, "digest"},
		"negative size":    {func(p *pkgsource.Package) { p.Size = -1 }, "negative size -1"},
	} {
		t.Run(name, func(t *testing.T) {
			pkg := &pkgsource.Package{Type: "tomcat", Version: v("10.1.34"), Location: "tomcat-10.1.34.tar.gz",
				Digest: "sha256:" + strings.Repeat("ab", 32), Size: 10}
			tc.edit(pkg)
			p := hunt17Plan([]upgrade.Step{{ID: "app/shop-1@2.0.0", After: []upgrade.StepID{"platform/tomcat-1@10.1.34"}}}, nil)
			p.Steps = append([]upgrade.Step{{ID: "platform/tomcat-1@10.1.34", Kind: upgrade.Platform, App: "shop", Node: "tomcat-1",
				Template: "tomcat_server", Type: "tomcat", From: v("8.5.100"), To: v("10.1.34"), Package: pkg}}, p.Steps...)
			p.ID = p.ComputeID()
			var buf bytes.Buffer
			require.NoError(t, p.WriteJSON(&buf))
			_, err := upgrade.ReadJSON(&buf)
			require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
			require.ErrorIs(t, err, pkgsource.ErrInvalid)
			assert.ErrorContains(t, err, "steps[0].package")
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

// TestHunt17WriteJSONKeepsResliceOfSharedCandidates writes a plan in
// which one decision's candidates are the first of another's, sliced from
// the same list, as a program that shortens a list it must not change
// makes it: WriteJSON wrote the second as "candidates_of" the first, by
// where the list starts, and ReadJSON then gave it the whole list, and
// refused the plan as edited, its content no longer that of its ID.
func TestHunt17WriteJSONKeepsResliceOfSharedCandidates(t *testing.T) {
	platform := func(node string) upgrade.Step {
		return upgrade.Step{ID: upgrade.StepID("platform/" + node + "@10.1.34"), Kind: upgrade.Platform, App: "shop", Node: topology.NodeID(node),
			Template: "tomcat_server", Type: "tomcat", From: v("8.5.100"), To: v("10.1.34"),
			Package: &pkgsource.Package{Type: "tomcat", Version: v("10.1.34")}}
	}
	p := hunt17Plan(nil, nil)
	p.Steps = []upgrade.Step{platform("tomcat-1"), platform("tomcat-2")}
	candidates := []upgrade.Candidate{{Version: v("10.1.34"), Chosen: true}, {Version: v("9.0.98"), Rejected: "policy newest prefers 10.1.34"}}
	p.Decisions = []upgrade.Decision{{Node: "tomcat-1", Candidates: candidates}, {Node: "tomcat-2", Candidates: candidates[:1]}}
	p.ID = p.ComputeID()

	var buf bytes.Buffer
	require.NoError(t, p.WriteJSON(&buf))
	back, err := upgrade.ReadJSON(&buf)
	require.NoError(t, err)
	assert.Equal(t, p.ID, back.ID)
	d, ok := back.Decision("tomcat-2")
	require.True(t, ok)
	assert.Equal(t, candidates[:1], d.Candidates)
}

// TestHunt17ReadJSONNamesOutOfRangeRequest reads plan files whose
// application step names a request index at the ends of int: the error
// counted requests from 1 by adding 1 to the index, and named request
// #-9223372036854775808 for the largest, #0 for -1, #-1 for -2.
func TestHunt17ReadJSONNamesOutOfRangeRequest(t *testing.T) {
	for request, want := range map[int]string{
		math.MaxInt: "names request #9223372036854775808 of 1",
		-1:          "names request index -1 of 1",
		-2:          "names request index -2 of 1",
		1:           "names request #2 of 1",
	} {
		p := hunt17Plan([]upgrade.Step{{ID: "a", Request: request}}, nil)
		var buf bytes.Buffer
		require.NoError(t, p.WriteJSON(&buf))
		_, err := upgrade.ReadJSON(&buf)
		require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
		assert.ErrorContains(t, err, want)
	}
}

// TestHunt17ReadJSONShortensUnknownKind reads a plan file whose step
// kind is a megabyte long: the error quoted it whole, a message of a
// megabyte for a log or a terminal, where every other value a plan file
// quotes (its schema, an ID) is cut short, as topology.Quote does.
func TestHunt17ReadJSONShortensUnknownKind(t *testing.T) {
	p := hunt17Plan([]upgrade.Step{{ID: "a"}}, nil)
	var buf bytes.Buffer
	require.NoError(t, p.WriteJSON(&buf))
	kind := strings.Repeat("x", 1<<20)
	data := strings.Replace(buf.String(), `"kind": "application"`, `"kind": "`+kind+`"`, 1)
	_, err := upgrade.ReadJSON(strings.NewReader(data))
	require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
	assert.Less(t, len(err.Error()), 300)
	assert.ErrorContains(t, err, "unknown step kind "+topology.Quote(kind))
	assert.ErrorContains(t, err, `want "platform" or "application"`)
}

// TestHunt17ReadJSONPlacesUnknownKey reads plan files with a key of no
// field, as a reviewer's typo leaves them: the error named the key alone
// ("unknown field "reasn""), with no line, and did not say which keys
// belong there, as topology's files do; the plan's JSON embeds Plan's
// fields, which the search for the key's place did not look into.
func TestHunt17ReadJSONPlacesUnknownKey(t *testing.T) {
	p := hunt17Plan([]upgrade.Step{{ID: "a"}}, nil)
	var buf bytes.Buffer
	require.NoError(t, p.WriteJSON(&buf))
	good := buf.String()
	for name, tc := range map[string]struct{ from, to, want string }{
		"in a step":  {`"reason"`, `"reasn"`, `unknown field "reasn": the keys here are "id", "kind", "app", "node", "template", "type", "from", "to", "package", "request", "after" and "reason"`},
		"at the top": {`"steps"`, `"stepz"`, `unknown field "stepz": the keys here are "schema", "id", "requests", "steps", "barriers", "satisfied", "warnings" and "decisions"`},
	} {
		t.Run(name, func(t *testing.T) {
			bad := strings.Replace(good, tc.from, tc.to, 1)
			line := 1 + strings.Count(bad[:strings.Index(bad, tc.to)], "\n")
			_, err := upgrade.ReadJSON(strings.NewReader(bad))
			require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
			assert.ErrorContains(t, err, fmt.Sprintf("line %d, column ", line))
			assert.ErrorContains(t, err, tc.want)
		})
	}
}
