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

// TestLongIDsRoundTrip plans for nodes, applications and templates whose
// IDs have the longest length topology.CheckID allows, rolls the plan in
// batches, and reads it back: step and barrier IDs, made of those IDs, are
// longer than any one of them, and a plan the planner made must still be a
// plan ReadJSON reads.
func TestLongIDsRoundTrip(t *testing.T) {
	long := func(prefix string) string { return prefix + strings.Repeat("x", topology.MaxIDLength-len(prefix)) }
	app, web, tomcat := topology.AppID(long("app")), topology.TemplateID(long("web")), topology.TemplateID(long("tomcat"))
	b := new(topology.Builder).
		Template(app, topology.Template{ID: web, Type: "webapp", Version: v("1.4.0"),
			Requirements: []topology.Requirement{{Name: "host", Template: tomcat, Constraint: c(">=8.5, <9")}}}).
		Template(app, topology.Template{ID: tomcat, Type: "tomcat", Version: v("8.5.100")})
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		b.Node(app, topology.Node{ID: topology.NodeID(long("tomcat-" + n)), Template: tomcat}).
			Node(app, topology.Node{ID: topology.NodeID(long("web-" + n)), Template: web,
				Relationships: on(topology.NodeID(long("tomcat-" + n)))})
	}
	req := upgrade.Request{Application: app, Replaces: web, Template: topology.Template{ID: web, Type: "webapp",
		Version: v("2.0.0"), Requirements: []topology.Requirement{{Name: "host", Template: tomcat, Constraint: c(">=9")}}}}
	plan, err := upgrade.NewPlanner(build(t, b), source(t, pkg("tomcat", "9.0.98"))).Plan(context.Background(), req)
	require.NoError(t, err)
	rolled, err := plan.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "2"})
	require.NoError(t, err)
	require.NotEmpty(t, rolled.Barriers)
	for _, p := range []*upgrade.Plan{plan, rolled} {
		var buf bytes.Buffer
		require.NoError(t, p.WriteJSON(&buf))
		back, err := upgrade.ReadJSON(&buf)
		require.NoError(t, err)
		assert.Equal(t, p.ID, back.ID)
	}
}
