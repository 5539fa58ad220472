package upgrade_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// TestHunt15ReadJSONRefusesContradictoryTarget edits a planned plan as
// someone reviewing the file might, pinning a Tomcat to another version
// by its "to" alone, and makes its ID again, as anyone can: ReadJSON took
// it, and the run installed the package the step still named while the
// plan, as reviewed and as recorded, said the node went elsewhere. A step
// whose target contradicts what it deploys is now refused, naming the
// step and both versions.
func TestHunt15ReadJSONRefusesContradictoryTarget(t *testing.T) {
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).
		Plan(context.Background(), shop2("tomcat_server", ">=9.0, <11", "java_runtime", ">=11"))
	require.NoError(t, err)
	find := func(p *upgrade.Plan, kind upgrade.StepKind, typ string) *upgrade.Step {
		for i := range p.Steps {
			if s := &p.Steps[i]; s.Kind == kind && (typ == "" || s.Type == typ) {
				return s
			}
		}
		t.Fatalf("no %s step of type %q in %v", kind, typ, ids(p))
		return nil
	}
	read := func(p *upgrade.Plan) (*upgrade.Plan, error) {
		p.ID = p.ComputeID()
		var buf bytes.Buffer
		require.NoError(t, p.WriteJSON(&buf))
		return upgrade.ReadJSON(&buf)
	}
	_, err = read(plan)
	require.NoError(t, err, "the plan as planned")
	clone := func() *upgrade.Plan { // a plan of its own to edit
		p, err := read(plan)
		require.NoError(t, err)
		return p
	}
	for name, tt := range map[string]struct {
		edit func(p *upgrade.Plan) *upgrade.Step
		want string
	}{
		"platform step's to": {func(p *upgrade.Plan) *upgrade.Step {
			s := find(p, upgrade.Platform, "tomcat")
			s.To = v("9.0.85")
			return s
		}, "goes to 9.0.85, and installs version 10.1.34 of tomcat: edit both to agree, or plan again"},
		"package of another type": {func(p *upgrade.Plan) *upgrade.Step {
			s := find(p, upgrade.Platform, "tomcat")
			pk := *s.Package
			pk.Type = "jdk"
			s.Package = &pk
			return s
		}, "is of a node of type tomcat, and installs a package of type jdk"},
		"platform step without package": {func(p *upgrade.Plan) *upgrade.Step {
			s := find(p, upgrade.Platform, "jdk")
			s.Package = nil
			return s
		}, "is a platform step and names no package to install"},
		"application step's to": {func(p *upgrade.Plan) *upgrade.Step {
			s := find(p, upgrade.Application, "")
			s.To = v("2.0.1")
			return s
		}, "goes to 2.0.1, and deploys version 2.0.0 of template shop_app"},
		"application step with a package": {func(p *upgrade.Plan) *upgrade.Step {
			s := find(p, upgrade.Application, "")
			s.Package = find(p, upgrade.Platform, "tomcat").Package
			return s
		}, "is an application step and names a package, tomcat 10.1.34, which only platform steps install"},
	} {
		t.Run(name, func(t *testing.T) {
			p := clone()
			s := tt.edit(p)
			got, err := read(p)
			assert.Nil(t, got)
			require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
			want := "upgrade: invalid plan: step " + string(s.ID) + " " + tt.want
			if !strings.HasSuffix(want, "plan again") {
				want += ": edit both to agree, or plan again"
			}
			assert.EqualError(t, err, want)
		})
	}
	// The same version written otherwise is no contradiction.
	p := clone()
	s := find(p, upgrade.Platform, "tomcat")
	s.To = v("v10.1.34")
	_, err = read(p)
	require.NoError(t, err)
}

// TestHunt15EditedPlanShowsBothIDsWhole: ReadJSON of a plan edited by
// hand, its ID left as it was, named that ID cut to 64 bytes and quoted
// ("sha256:ac4b…" (71 bytes)) beside the whole ID of its content, so that
// the two could not be compared. Both are shown whole.
func TestHunt15EditedPlanShowsBothIDsWhole(t *testing.T) {
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).
		Plan(context.Background(), shop2("tomcat_server", ">=9.0, <11", "java_runtime", ">=11"))
	require.NoError(t, err)
	plan.Steps[0].Reason = "edited"
	var buf bytes.Buffer
	require.NoError(t, plan.WriteJSON(&buf))
	_, err = upgrade.ReadJSON(&buf)
	require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
	assert.Equal(t, "upgrade: invalid plan: id "+plan.ID+" does not match its content ("+plan.ComputeID()+"): the plan was changed after it was made; "+
		"review it again and plan again, or have the program that changed it set its ID to Plan.ComputeID", err.Error())
}

// TestHunt15NewestBuildOfK3s: a k3s cluster on v1.27.4+k3s1, the
// source offering v1.28.2 as builds +k3s9 and +k3s10, was taken to
// +k3s9: builds of one version tie, and the tie went by text. The
// newest is the later build, +k3s10, as k3s numbers them.
func TestHunt15NewestBuildOfK3s(t *testing.T) {
	b := new(topology.Builder).
		Template("k8s", topology.Template{ID: "cluster", Type: "k3s", Version: v("v1.27.4+k3s1")}).
		Template("web", topology.Template{ID: "chart", Type: "helm", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "cluster", Constraint: c(">=1.27.0-0")}}}).
		Node("k8s", topology.Node{ID: "edge-1", Template: "cluster"}).
		Node("web", topology.Node{ID: "chart-1", Template: "chart", Relationships: on("edge-1")})
	src := source(t, pkg("k3s", "v1.28.2+k3s9"), pkg("k3s", "v1.28.2+k3s10"))
	plan, err := upgrade.NewPlanner(build(t, b), src).Plan(context.Background(), upgrade.Request{Application: "web", Replaces: "chart",
		Template: topology.Template{ID: "chart", Type: "helm", Version: v("2.0.0"),
			Requirements: []topology.Requirement{{Template: "cluster", Constraint: c(">=1.28.0-0")}}}})
	require.NoError(t, err)
	require.NotEmpty(t, plan.Steps)
	assert.Equal(t, "v1.28.2+k3s10", plan.Steps[0].To.String(), "%v", ids(plan))
}

// TestHunt15DowngradeOfReplacedNodeSaysWhatToAsk: a request asking for
// a version below the one a node it replaces runs was refused advising
// to "relax the demands", where the only demand is the request's version:
// it says to ask for that version or above, or to allow downgrades.
func TestHunt15DowngradeOfReplacedNodeSaysWhatToAsk(t *testing.T) {
	r := shop2("tomcat_server", ">=8.5")
	r.Template.Version = v("1.3.0") // below the 1.4.0 that shop-1 runs
	_, err := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t)).Plan(context.Background(), r)
	require.ErrorIs(t, err, upgrade.ErrDowngrade)
	var de *upgrade.DowngradeError
	require.ErrorAs(t, err, &de)
	assert.True(t, de.Replaced)
	assert.Contains(t, err.Error(), `node "shop-1" (webapp 1.4.0) is above the version asked for: `)
	assert.Contains(t, err.Error(), "ask for 1.4.0 or above, or allow them (upgrade.AllowDowngrades)")
	assert.NotContains(t, err.Error(), "relax")
}

// TestHunt15EmptyRequestFieldsSayWhatToGive: a request's empty
// Application, Replaces or Template.ID was refused as "empty", naming the
// field only; each says what to give.
func TestHunt15EmptyRequestFieldsSayWhatToGive(t *testing.T) {
	planner := upgrade.NewPlanner(build(t, shopBuilder(1)), catalogue(t))
	for field, tt := range map[string]struct {
		edit func(r *upgrade.Request)
		want string
	}{
		"Application": {func(r *upgrade.Request) { r.Application = "" }, "give the ID of the application to upgrade"},
		"Replaces":    {func(r *upgrade.Request) { r.Replaces = "" }, "give the ID of the template whose nodes the new one replaces"},
		"Template.ID": {func(r *upgrade.Request) { r.Template.ID = "" }, "give the new template an ID"},
	} {
		r := shop2("tomcat_server", ">=9")
		tt.edit(&r)
		_, err := planner.Plan(context.Background(), r)
		var re *upgrade.RequestError
		require.ErrorAs(t, err, &re, field)
		assert.Equal(t, field, re.Field)
		assert.Contains(t, err.Error(), "upgrade: request #1: "+field+": empty: "+tt.want)
	}
}
