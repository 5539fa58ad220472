package upgrade_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// TestHunt6RequestNewTemplateID: a new template's ID of its own is new,
// or that of the application's template that a run has moved nodes to. It
// may not be another application's template (billing_app), nor one of the
// application's own of another type (tomcat_server, a platform template):
// a host that records the run in its topology, as the example server
// does, could not tell the new template from the old one, and would find
// out only after every step had run. The request is refused before the
// topology is asked anything more, naming the field and the template.
func TestHunt6RequestNewTemplateID(t *testing.T) {
	b := shopBuilder(1).
		Template("shop", topology.Template{ID: "shop_app_v2", Type: "webapp", Version: v("2.0.0")}).
		Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: v("1.0.0"),
			Requirements: []topology.Requirement{{Template: "tomcat_server", Constraint: c(">=8")}}}).
		Node("billing", topology.Node{ID: "billing-1", Template: "billing_app", Relationships: on("tomcat-1")})
	planner := upgrade.NewPlanner(build(t, b), source(t))
	for _, tc := range []struct {
		id, typ, reason string
	}{
		{"billing_app", "webapp", `template "billing_app" is another application's, not "shop"'s: give the new template an ID of its own`},
		{"tomcat_server", "webapp", `application "shop" has a template "tomcat_server" of type "tomcat", not "webapp": give the new template an ID of its own`},
		{"java_runtime", "jdk-app", `application "shop" has a template "java_runtime" of type "jdk", not "jdk-app"`},
	} {
		r := shop2()
		r.Template.ID, r.Template.Type = topology.TemplateID(tc.id), tc.typ
		_, err := planner.Plan(t.Context(), r)
		require.ErrorIs(t, err, upgrade.ErrInvalidRequest, tc.id)
		re, ok := errors.AsType[*upgrade.RequestError](err)
		require.True(t, ok, err)
		assert.Equal(t, "Template.ID", re.Field)
		assert.Contains(t, err.Error(), tc.reason)
	}

	// The application's own template of that type, which a run moved no
	// node to yet, and a new ID: both plan.
	for _, id := range []topology.TemplateID{"shop_app_v2", "shop_app_v3"} {
		r := shop2()
		r.Template.ID = id
		plan, err := planner.Plan(t.Context(), r)
		require.NoError(t, err, id)
		assert.Equal(t, []upgrade.StepID{"app/shop-1@2.0.0"}, ids(plan), id)
	}
}
