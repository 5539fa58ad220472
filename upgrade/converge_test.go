package upgrade_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// Tests that planning again after a run converges: what succeeded is not
// planned again. Helpers are prefixed "cv".

// cvApply returns the topology as it is once the given steps of the plan
// have succeeded: each node at its step's target version and, for an
// application step, its application's template replaced by the request's,
// which the node is then of.
func cvApply(t *testing.T, topo *topology.Memory, plan *upgrade.Plan, done []upgrade.StepID) *topology.Memory {
	t.Helper()
	apps := topo.Applications()
	for _, id := range done {
		s, ok := plan.Step(id)
		require.True(t, ok, id)
		for a := range apps {
			for k := range apps[a].Nodes {
				if n := &apps[a].Nodes[k]; n.ID == s.Node {
					n.Version = s.To
					if s.Kind == upgrade.Application {
						n.Template = s.NewTemplate.ID
					}
				}
			}
			if s.Kind == upgrade.Application && apps[a].ID == s.App {
				// The new template takes the old one's place, or, under a
				// new ID, joins it: nodes not done still name the old.
				renamed := s.NewTemplate.ID != s.Template
				if renamed && slices.ContainsFunc(apps[a].Templates, func(t topology.Template) bool { return t.ID == s.NewTemplate.ID }) {
					continue
				}
				for k := range apps[a].Templates {
					if apps[a].Templates[k].ID == s.Template && !renamed {
						apps[a].Templates[k] = *s.NewTemplate
					}
				}
				if renamed {
					apps[a].Templates = append(apps[a].Templates, *s.NewTemplate)
				}
			}
		}
	}
	out, err := topology.New(apps...)
	require.NoError(t, err)
	return out
}

func cvRequest() upgrade.Request {
	return shop2("tomcat_server", ">=9.0, <11", "java_runtime", ">=17")
}

func TestReplanAfterRunHasNoSteps(t *testing.T) {
	topo := build(t, shopBuilder(3))
	planner := upgrade.NewPlanner(topo, catalogue(t))
	plan, err := planner.Plan(context.Background(), cvRequest())
	require.NoError(t, err)
	require.NotEmpty(t, plan.Steps)

	after := cvApply(t, topo, plan, ids(plan))
	again, err := upgrade.NewPlanner(after, catalogue(t)).Plan(context.Background(), cvRequest())
	require.NoError(t, err)
	assert.Empty(t, again.Steps, "the run did it all")
	assert.Empty(t, again.Warnings)
	var apps []topology.NodeID
	for _, c := range again.Satisfied {
		if c.Template == "shop_app" {
			apps = append(apps, c.Node)
			assert.Equal(t, v("2.0.0"), c.Version)
			assert.Equal(t, "=2.0.0", c.Demand.Constraint.String())
		}
	}
	assert.Equal(t, []topology.NodeID{"shop-1", "shop-2", "shop-3"}, apps, "each application node is a satisfied check")
	assert.Contains(t, again.String(), "No changes.")
	requireTopological(t, again)
}

// TestReplanAfterPartialRun fails one application step and one platform
// step of a run: planning again gives exactly the steps that did not
// succeed, with the same IDs, so that the remaining work is all there is.
func TestReplanAfterPartialRun(t *testing.T) {
	topo := build(t, shopBuilder(4))
	plan, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(context.Background(), cvRequest())
	require.NoError(t, err)
	exec := new(upgradetest.Executor)
	exec.FailAt("app/shop-2@2.0.0", errors.New("unhealthy"))
	exec.FailAt("platform/tomcat-4@10.1.34", errors.New("disk full"))
	report, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithFailurePolicy(upgrade.ContinueIndependent))
	require.ErrorIs(t, err, upgrade.ErrStepFailed)
	var done, left []upgrade.StepID
	for _, o := range report.Outcomes {
		if o.State == upgrade.Succeeded {
			done = append(done, o.Step)
		} else {
			left = append(left, o.Step)
		}
	}
	require.NotEmpty(t, done)

	again, err := upgrade.NewPlanner(cvApply(t, topo, plan, done), catalogue(t)).Plan(context.Background(), cvRequest())
	require.NoError(t, err)
	got := ids(again)
	slices.Sort(got)
	slices.Sort(left)
	assert.Equal(t, left, got)
}

func TestReplanApplicationAbove(t *testing.T) {
	b := shopBuilder(2)
	b.Node("shop", topology.Node{ID: "shop-9", Template: "shop_app", Version: v("3.1.0"),
		Relationships: on("tomcat-1")})
	topo := build(t, b)

	_, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(context.Background(), cvRequest())
	require.ErrorIs(t, err, upgrade.ErrDowngrade)
	var de *upgrade.DowngradeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, topology.NodeID("shop-9"), de.Node)
	assert.Equal(t, v("3.1.0"), de.Installed)
	assert.ErrorContains(t, err, `node "shop-9" (webapp 3.1.0)`)
	assert.ErrorContains(t, err, "downgrades are not allowed")

	plan, err := upgrade.NewPlanner(topo, catalogue(t), upgrade.AllowDowngrades()).Plan(context.Background(), cvRequest())
	require.NoError(t, err)
	s, ok := plan.Step("app/shop-9@2.0.0")
	require.True(t, ok, "allowed, the downgrade is a step")
	assert.Equal(t, v("3.1.0"), s.From)
}

// TestPlanIgnoresRequiresOrder plans with a package index republished
// with a package's requirements in the other order: the plan, its ID and
// its JSON are the same, so that a journal of the first plan resumes the
// second, and the source's own packages are left as they were.
func TestPlanIgnoresRequiresOrder(t *testing.T) {
	tomcat := requires(requires(pkg("tomcat", "10.1.34"), "jdk", ">=11"), "ubuntu", ">=18.04")
	reordered := tomcat
	reordered.Requires = []pkgsource.Requirement{tomcat.Requires[1], tomcat.Requires[0]}
	plan := func(p pkgsource.Package) *upgrade.Plan {
		// A source that hands out its own Requires slices, as a Source may:
		// the planner must not sort them in place.
		listed := []pkgsource.Package{p, pkg("jdk", "17.0.10"), pkg("ubuntu", "22.04")}
		src := pkgsource.SourceFunc(func(_ context.Context, typ string) ([]pkgsource.Package, error) {
			var out []pkgsource.Package
			for _, l := range listed {
				if l.Type == typ {
					out = append(out, l)
				}
			}
			return out, nil
		})
		plan, err := upgrade.NewPlanner(build(t, shopBuilder(2)), src).Plan(context.Background(),
			shop2("tomcat_server", ">=10", "java_runtime", ">=11"))
		require.NoError(t, err)
		return plan
	}
	first, second := plan(tomcat), plan(reordered)
	assert.Equal(t, first.ID, second.ID)
	var a, b strings.Builder
	require.NoError(t, first.WriteJSON(&a))
	require.NoError(t, second.WriteJSON(&b))
	assert.Equal(t, a.String(), b.String())
	assert.Equal(t, "ubuntu", reordered.Requires[0].Type, "the source's own requirements are not sorted in place")
}

// TestRequirementNamingAType asks for a requirement on "tomcat", the type
// of template tomcat_server: the error says the requirement names a type.
func TestRequirementNamingAType(t *testing.T) {
	_, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).Plan(context.Background(), shop2("tomcat", ">=9"))
	require.ErrorIs(t, err, topology.ErrNotFound)
	var missing *upgrade.MissingNodeError
	require.ErrorAs(t, err, &missing)
	assert.Equal(t, []topology.TemplateID{"tomcat_server"}, missing.TypeOf)
	assert.ErrorContains(t, err, `"tomcat" is the type of template tomcat_server beneath it: a requirement names a template, not a type`)

	_, err = upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).Plan(context.Background(), shop2("postgres_server", ">=15"))
	require.ErrorAs(t, err, &missing)
	assert.Empty(t, missing.TypeOf)
	assert.ErrorContains(t, err, `no node of template "postgres_server" beneath node "shop-1" of application "shop"; relate the node to one, or fix the requirement`)
}

// TestReplacedTemplateNotFound checks that the error holds the ID alone,
// with the application apart.
func TestReplacedTemplateNotFound(t *testing.T) {
	req := cvRequest()
	req.Replaces = "shop_ap"
	_, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).Plan(context.Background(), req)
	var nf *topology.NotFoundError
	require.ErrorAs(t, err, &nf)
	assert.Equal(t, topology.NotFoundError{Kind: "template", ID: "shop_ap", App: "shop"}, *nf)
	assert.ErrorContains(t, err, `template "shop_ap" not found in application "shop"`)
}

// TestRunErrorsOnOneLine fails two independent steps: the run's error
// counts them on one line, as topology's errors do.
func TestRunErrorsOnOneLine(t *testing.T) {
	plan := shopPlan(t, 2)
	exec := new(upgradetest.Executor)
	exec.FailAt("app/shop-1@2.0.0", errors.New("one"))
	exec.FailAt("app/shop-2@2.0.0", errors.New("two"))
	_, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithFailurePolicy(upgrade.ContinueIndependent))
	require.ErrorIs(t, err, upgrade.ErrStepFailed)
	assert.Regexp(t, `^2 problems: upgrade: step app/shop-1@2\.0\.0 on node "shop-1": one; upgrade: step app/shop-2@2\.0\.0 on node "shop-2": two$`, err.Error())
}

// TestCurrentIsTheSameVersion checks that an application node counts as
// on the new template already only when it has the new template's version,
// build metadata included: a new build of a version is a step to deploy,
// and planning again once it has run has none. A node is current by its
// version only, as the topology records: a template renamed at the same
// version is a satisfied check, as it would be after the step ran in a
// topology that records versions only.
func TestCurrentIsTheSameVersion(t *testing.T) {
	tpl := func(id, typ, ver string) topology.Template {
		return topology.Template{ID: topology.TemplateID(id), Type: typ, Version: v(ver)}
	}
	for _, tc := range []struct {
		name      string
		installed topology.Template
		next      topology.Template
		steps     int
	}{
		{"same", tpl("svc_app", "webapp", "1.2.3+build.7"), tpl("svc_app", "webapp", "1.2.3+build.7"), 0},
		{"same version spelled otherwise", tpl("svc_app", "webapp", "18.04"), tpl("svc_app", "webapp", "18.4.0"), 0},
		{"new build", tpl("svc_app", "webapp", "1.2.3+build.7"), tpl("svc_app", "webapp", "1.2.3+build.8"), 1},
		{"build added", tpl("svc_app", "webapp", "1.2.3"), tpl("svc_app", "webapp", "1.2.3+build.8"), 1},
		{"metadata dropped", tpl("svc_app", "webapp", "1.2.3+build.8"), tpl("svc_app", "webapp", "1.2.3"), 1},
		{"template renamed", tpl("svc_app", "webapp", "1.2.3"), tpl("svc_app_ng", "webapp", "1.2.3"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topo := build(t, new(topology.Builder).Template("svc", tc.installed).
				Node("svc", topology.Node{ID: "svc-1", Template: tc.installed.ID}))
			req := upgrade.Request{Application: "svc", Replaces: tc.installed.ID, Template: tc.next}
			plan, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(context.Background(), req)
			require.NoError(t, err)
			require.Len(t, plan.Steps, tc.steps)
			if tc.steps == 0 {
				require.Len(t, plan.Satisfied, 1)
				return
			}
			s := plan.Steps[0]
			assert.Equal(t, upgrade.StepID("app/svc-1@"+tc.next.Version.Canonical().String()), s.ID)
			assert.Equal(t, tc.installed.Version.String(), s.From.String())
			assert.Equal(t, tc.next.Version.String(), s.To.String())
			assert.Empty(t, plan.Satisfied)

			// Once it has run, the node runs the new template: planning
			// again for it has nothing to do.
			after := cvApply(t, topo, plan, []upgrade.StepID{s.ID})
			again, err := upgrade.NewPlanner(after, catalogue(t)).Plan(context.Background(),
				upgrade.Request{Application: "svc", Replaces: tc.next.ID, Template: tc.next})
			require.NoError(t, err)
			assert.Empty(t, again.Steps)
		})
	}
}

// TestReplanRenamedTemplate plans a new version whose template has a new
// ID: after a run, or part of one, the nodes of the new ID are the
// request's too, and planning again gives what is left: nothing after the
// whole run, whether the old template is still defined or not.
func TestReplanRenamedTemplate(t *testing.T) {
	req := cvRequest()
	req.Template.ID = "shop_ng"
	topo := build(t, shopBuilder(3))
	plan, err := upgrade.NewPlanner(topo, catalogue(t)).Plan(context.Background(), req)
	require.NoError(t, err)

	after := cvApply(t, topo, plan, ids(plan))
	again, err := upgrade.NewPlanner(after, catalogue(t)).Plan(context.Background(), req)
	require.NoError(t, err)
	assert.Empty(t, again.Steps, "the run did it all")
	var current []topology.NodeID
	for _, c := range again.Satisfied {
		if c.Template == "shop_ng" {
			current = append(current, c.Node)
		}
	}
	assert.Equal(t, []topology.NodeID{"shop-1", "shop-2", "shop-3"}, current)

	// The old template gone from the application: the same.
	apps := after.Applications()
	for a := range apps {
		apps[a].Templates = slices.DeleteFunc(apps[a].Templates, func(t topology.Template) bool { return t.ID == "shop_app" })
	}
	gone, err := topology.New(apps...)
	require.NoError(t, err)
	again, err = upgrade.NewPlanner(gone, catalogue(t)).Plan(context.Background(), req)
	require.NoError(t, err)
	assert.Empty(t, again.Steps)

	// Part of the run: the steps not done, under the same IDs.
	var done, left []upgrade.StepID
	for _, id := range ids(plan) {
		if id == "app/shop-2@2.0.0" {
			left = append(left, id)
		} else {
			done = append(done, id)
		}
	}
	again, err = upgrade.NewPlanner(cvApply(t, topo, plan, done), catalogue(t)).Plan(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, left, ids(again))

	// Neither template defined: the one replaced is named.
	_, err = upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).Plan(context.Background(), upgrade.Request{
		Application: "shop", Replaces: "shop_old", Template: req.Template})
	require.ErrorIs(t, err, topology.ErrNotFound)
	assert.Contains(t, err.Error(), "shop_old")
}

// TestRenamedTemplateReplacedTwice: the nodes of a new template's ID are
// its request's (see TestReplanRenamedTemplate), so another request that
// replaces that template, or moves to it too, is refused.
func TestRenamedTemplateReplacedTwice(t *testing.T) {
	ng := cvRequest()
	ng.Template.ID = "shop_ng"
	other := ng
	other.Replaces = "shop_ng"
	for _, tt := range []struct {
		reqs  []upgrade.Request
		field string
	}{
		{[]upgrade.Request{ng, other}, "Replaces"},
		{[]upgrade.Request{other, ng}, "Template.ID"},
	} {
		_, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).PlanAll(context.Background(), tt.reqs...)
		var re *upgrade.RequestError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, 1, re.Request)
		assert.Equal(t, tt.field, re.Field)
		assert.ErrorContains(t, err, `template "shop_ng" of application "shop" is already replaced by request #1`)
	}
}
