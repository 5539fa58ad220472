package upgrade_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

// hunt18Read writes p, its ID hashed again as anyone can, and reads it
// back.
func hunt18Read(t *testing.T, p *upgrade.Plan) (*upgrade.Plan, error) {
	t.Helper()
	p.ID = p.ComputeID()
	var buf bytes.Buffer
	require.NoError(t, p.WriteJSON(&buf))
	return upgrade.ReadJSON(&buf)
}

// TestHunt18ReadJSONRefusesUnsortedAfter reads plan files whose After
// lists are out of order or name a step twice, as a hand edit leaves
// them: the planner and Plan.Roll write every After list sorted and
// without repeats (Step.After says so), and ReadJSON read them back, a
// plan that no planner made, with an ID of its own for the same steps.
func TestHunt18ReadJSONRefusesUnsortedAfter(t *testing.T) {
	after := func(ids ...upgrade.StepID) []upgrade.StepID { return ids }
	for name, tc := range map[string]struct {
		steps    []upgrade.Step
		barriers []upgrade.Barrier
		want     string
	}{
		"step out of order": {[]upgrade.Step{{ID: "a"}, {ID: "b"}, {ID: "c", After: after("b", "a")}}, nil,
			"step c lists b before a in its After"},
		"step twice": {[]upgrade.Step{{ID: "a"}, {ID: "c", After: after("a", "a")}}, nil,
			"step c lists a twice in its After"},
		"barrier out of order": {[]upgrade.Step{{ID: "a"}, {ID: "b"}, {ID: "c", After: after("x")}},
			[]upgrade.Barrier{{ID: "x", After: after("b", "a")}}, "barrier x lists b before a in its After"},
		"barrier twice": {[]upgrade.Step{{ID: "a"}, {ID: "c", After: after("x")}},
			[]upgrade.Barrier{{ID: "x", After: after("a", "a")}}, "barrier x lists a twice in its After"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := hunt18Read(t, hunt17Plan(tc.steps, tc.barriers))
			require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
			assert.ErrorContains(t, err, tc.want)
			assert.ErrorContains(t, err, "list each step once, sorted")
		})
	}
	// Sorted, the same plans are read.
	_, err := hunt18Read(t, hunt17Plan([]upgrade.Step{{ID: "a"}, {ID: "b"}, {ID: "c", After: after("a", "b")}}, nil))
	require.NoError(t, err)
	_, err = hunt18Read(t, hunt17Plan([]upgrade.Step{{ID: "a"}, {ID: "b"}, {ID: "c", After: after("x")}},
		[]upgrade.Barrier{{ID: "x", After: after("a", "b")}}))
	require.NoError(t, err)
}

// TestHunt18ReadJSONRefusesStepOfAnotherRequest reads plan files whose
// application step names a request whose template it does not replace:
// another application, or a template the request neither replaces nor
// deploys. ReadJSON read them back, and gave the step the request's new
// template to deploy (NewTemplate): the executor put request #1's release
// of one application on a node of another, as the reviewer never read. A
// platform step that names a request was read too.
func TestHunt18ReadJSONRefusesStepOfAnotherRequest(t *testing.T) {
	plan := func(edit func(*upgrade.Step)) *upgrade.Plan {
		p := hunt17Plan([]upgrade.Step{{ID: "a"}}, nil)
		p.Requests = append(p.Requests, upgrade.Request{Application: "blog", Replaces: "blog_app",
			Template: topology.Template{ID: "blog_app2", Version: v("2.0.0")}})
		edit(&p.Steps[0])
		return p
	}
	for name, tc := range map[string]struct {
		edit func(*upgrade.Step)
		want string
	}{
		"another application": {func(s *upgrade.Step) { s.App = "blog" },
			"step a is of a node of application blog, and names request #1, which upgrades application shop"},
		"another template": {func(s *upgrade.Step) { s.Template = "tomcat_server" },
			"step a is of a node of template tomcat_server, and names request #1, which replaces template shop_app with shop_app"},
		"other request's app": {func(s *upgrade.Step) { s.Request = 1 },
			"step a is of a node of application shop, and names request #2, which upgrades application blog"},
		"other request's template": {func(s *upgrade.Step) { s.Request, s.App = 1, "blog" },
			"step a is of a node of template shop_app, and names request #2, which replaces template blog_app with blog_app2"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := hunt18Read(t, plan(tc.edit))
			require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
			assert.ErrorContains(t, err, tc.want)
			assert.ErrorContains(t, err, "edit both to agree, or plan again")
		})
	}
	// A platform step names no request.
	for request, want := range map[int]string{1: "names request #2", -1: "names request index -1"} {
		p := hunt17Plan(nil, nil)
		p.Steps = []upgrade.Step{{ID: "platform/tomcat-1@10.1.34", Kind: upgrade.Platform, App: "shop", Node: "tomcat-1",
			Template: "tomcat_server", Type: "tomcat", From: v("8.5.100"), To: v("10.1.34"),
			Package: &pkgsource.Package{Type: "tomcat", Version: v("10.1.34")}, Request: request}}
		_, err := hunt18Read(t, p)
		require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
		assert.ErrorContains(t, err, "step platform/tomcat-1@10.1.34 is a platform step and "+want+", as only application steps do")
	}
	// A step of either template a request replaces is read: its old one,
	// or the new one's ID (another build, which a run moved the node to).
	for _, s := range []func(*upgrade.Step){
		func(*upgrade.Step) {},
		func(s *upgrade.Step) { s.Request, s.App, s.Template = 1, "blog", "blog_app" },
		func(s *upgrade.Step) { s.Request, s.App, s.Template = 1, "blog", "blog_app2" },
	} {
		_, err := hunt18Read(t, plan(s))
		require.NoError(t, err)
	}
}

// TestHunt18ReadJSONRefusesUnsortedBarriers reads a plan file whose
// barriers are out of order, as a hand edit leaves them: Plan.Barriers
// says they are sorted by ID, as Plan.Roll sorts them, and ReadJSON read
// them back, a plan that no planner made, with an ID of its own.
func TestHunt18ReadJSONRefusesUnsortedBarriers(t *testing.T) {
	after := func(ids ...upgrade.StepID) []upgrade.StepID { return ids }
	steps := []upgrade.Step{{ID: "a"}, {ID: "b"}, {ID: "c", After: after("x", "y")}}
	_, err := hunt18Read(t, hunt17Plan(steps, []upgrade.Barrier{{ID: "y", After: after("b")}, {ID: "x", After: after("a")}}))
	require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
	assert.ErrorContains(t, err, "barrier x is listed after barrier y: list the barriers sorted by ID, as Plan.Roll does, or plan again")

	_, err = hunt18Read(t, hunt17Plan(steps, []upgrade.Barrier{{ID: "x", After: after("a")}, {ID: "y", After: after("b")}}))
	require.NoError(t, err)
}

// TestHunt18ReadJSONRefusesRequestsThePlannerRefuses reads plan files
// whose requests the planner would have refused, as a hand edit leaves
// them: two that replace one template, one of no version (its steps going
// to no version). ReadJSON read them back, a plan that no planner made.
func TestHunt18ReadJSONRefusesRequestsThePlannerRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*upgrade.Plan)
		want string
	}{
		"replaced twice": {func(p *upgrade.Plan) { p.Requests = append(p.Requests, p.Requests[0]) },
			`requests[1].replaces: template "shop_app" of application "shop" is already replaced by request #1`},
		"no version": {func(p *upgrade.Plan) {
			p.Requests[0].Template.Version = version.Version{}
			p.Steps[0].To = version.Version{}
		}, `requests[0].template.version: template "shop_app" has no version`},
	} {
		t.Run(name, func(t *testing.T) {
			p := hunt17Plan([]upgrade.Step{{ID: "a"}}, nil)
			tc.edit(p)
			_, err := hunt18Read(t, p)
			require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
			assert.ErrorContains(t, err, "upgrade: invalid plan: "+tc.want)
			assert.ErrorContains(t, err, "plan again")
		})
	}
}

// TestHunt18ReadJSONRefusesStepFromWhatItsPackageDoesNotUpgrade reads a
// plan file whose platform step goes from a version that its package
// does not upgrade (its From constraint refuses it), as a hand edit of
// the step's from, or of the package, leaves it: the planner chooses
// only packages that upgrade the version a step goes from, and ReadJSON
// read it back, for the executor to install a package over a version it
// cannot upgrade.
func TestHunt18ReadJSONRefusesStepFromWhatItsPackageDoesNotUpgrade(t *testing.T) {
	plan := func(from string) *upgrade.Plan {
		p := hunt17Plan(nil, nil)
		p.Steps = []upgrade.Step{{ID: "platform/tomcat-1@10.1.34", Kind: upgrade.Platform, App: "shop", Node: "tomcat-1",
			Template: "tomcat_server", Type: "tomcat", From: v(from), To: v("10.1.34"),
			Package: &pkgsource.Package{Type: "tomcat", Version: v("10.1.34"), From: c(">=9.0")}}}
		return p
	}
	_, err := hunt18Read(t, plan("8.5.100"))
	require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
	assert.ErrorContains(t, err, "step platform/tomcat-1@10.1.34 goes from 8.5.100, and installs tomcat 10.1.34, which upgrades from >=9.0 only: edit both to agree, or plan again")
	_, err = hunt18Read(t, plan("9.0.98"))
	require.NoError(t, err)
}
