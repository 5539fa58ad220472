package upgrade_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// TestHunt16TerraformPessimisticConstraint: a Terraform configuration
// requires its provider "~> 5.0", meaning any 5.x from 5.0, which stackup
// reads as Masterminds does, 5.0.x only. Where that leaves no package, the
// error says so and what to write; where it picks a 5.0.x, the decision's
// newer candidates say why they were passed over.
func TestHunt16TerraformPessimisticConstraint(t *testing.T) {
	b := new(topology.Builder).
		Template("infra", topology.Template{ID: "stack", Type: "tfconfig", Version: v("1.0.0")}).
		Template("infra", topology.Template{ID: "aws_provider", Type: "provider", Version: v("4.67.0")}).
		Node("infra", topology.Node{ID: "aws-1", Template: "aws_provider"}).
		Node("infra", topology.Node{ID: "stack-1", Template: "stack", Relationships: on("aws-1")})
	stack := upgrade.Request{Application: "infra", Replaces: "stack", Template: topology.Template{ID: "stack", Type: "tfconfig", Version: v("2.0.0"),
		Requirements: []topology.Requirement{{Template: "aws_provider", Constraint: c("~> 5.0")}}}}

	_, err := upgrade.NewPlanner(build(t, b), source(t, pkg("provider", "5.31.0"), pkg("provider", "6.0.0"))).Plan(t.Context(), stack)
	require.ErrorIs(t, err, upgrade.ErrNoPackage)
	assert.ErrorContains(t, err, `requires ~> 5.0; provider packages available: 5.31.0, 6.0.0; add one that does to the package source, or relax the demands; "~> 5.0" allows only the patch releases of the version it names (~> is Masterminds' "~" here, not Terraform's or RubyGems' operator): write ">=5.0, <6" to allow 5.31.0`)

	plan, err := upgrade.NewPlanner(build(t, b), source(t, pkg("provider", "5.0.1"), pkg("provider", "5.31.0"))).Plan(t.Context(), stack)
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/aws-1@5.0.1", "app/stack-1@2.0.0"}, ids(plan))
	assert.Contains(t, decided(t, plan, "aws-1").Candidates, upgrade.Candidate{Version: v("5.31.0"),
		Rejected: `does not satisfy stack@2.0.0 (infra) requires ~> 5.0; "~> 5.0" allows only the patch releases of the version it names (~> is Masterminds' "~" here, not Terraform's or RubyGems' operator): write ">=5.0, <6" to allow 5.31.0`})
}
