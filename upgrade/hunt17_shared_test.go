package upgrade_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// hunt17SharedPostgres is a PostgreSQL 14 that four teams' Keycloak
// servers and one Git server, named git, depend on (not hosted on it),
// each server hosting its team's application, and the requests that
// move every team to a release needing Keycloak 24 or 25 and the code
// team to one needing Gitea 1.22.
func hunt17SharedPostgres(t *testing.T, git topology.NodeID) (*topology.Memory, []upgrade.Request) {
	b := new(topology.Builder).
		Template("data", topology.Template{ID: "postgres", Type: "postgresql", Version: v("14.11")}).
		Node("data", topology.Node{ID: "pg-1", Template: "postgres"}).
		Template("data", topology.Template{ID: "keycloak", Type: "keycloak", Version: v("22.0.5"),
			Requirements: []topology.Requirement{{Template: "postgres", Constraint: c(">=12"), Relation: topology.DependsOn}}}).
		Template("data", topology.Template{ID: "gitea", Type: "gitea", Version: v("1.20.6"),
			Requirements: []topology.Requirement{{Template: "postgres", Constraint: c(">=12"), Relation: topology.DependsOn}}})
	var reqs []upgrade.Request
	team := func(app topology.AppID, server, template topology.TemplateID, node topology.NodeID, constraint string) {
		b.Node("data", topology.Node{ID: node, Template: template, Relationships: []topology.Relationship{hunt6Dep("pg-1")}}).
			Template(app, topology.Template{ID: topology.TemplateID(app) + "_app", Type: "webapp", Version: v("1.0.0"),
				Requirements: []topology.Requirement{{Template: server, Constraint: c(">=1")}}}).
			Node(app, topology.Node{ID: topology.NodeID(app) + "-1", Template: topology.TemplateID(app) + "_app", Relationships: on(node)})
		reqs = append(reqs, upgrade.Request{Application: app, Replaces: topology.TemplateID(app) + "_app",
			Template: topology.Template{ID: topology.TemplateID(app) + "_app", Type: "webapp", Version: v("2.0.0"),
				Requirements: []topology.Requirement{{Template: server, Constraint: c(constraint)}}}})
	}
	for i := 1; i <= 4; i++ {
		team(topology.AppID(fmt.Sprintf("team%d", i)), "keycloak", "keycloak", topology.NodeID(fmt.Sprintf("keycloak-%d", i)), ">=24, <26")
	}
	team("code", "gitea", "gitea", git, ">=1.22")
	return build(t, b), reqs
}

// TestHunt17DependentSiblingsDoNotDependOnNodeIDs: servers that depend on
// one database, rather than run on one host, each looked ahead at it
// without what the servers beside it not yet decided will surely ask of
// it. Gitea 1.22, the only release the code team's request allows, needs
// PostgreSQL below 16, and Keycloak 24.0.5 runs on it: with the Git
// server called gitea-1, decided first, every Keycloak passed over 25.0.6,
// which needs PostgreSQL 16; called scm-1, each Keycloak took 25.0.6, and
// the plans made again, passing over one Keycloak's package at a time, ran
// out before all four were: PlanAll failed with a *ConflictError on pg-1
// that named 25.0.6 as if nothing else would do. The look-ahead now counts
// what a server that depends on the node will surely ask of it, as it did
// for one hosted on it, and the plan is the same whatever the names.
func TestHunt17DependentSiblingsDoNotDependOnNodeIDs(t *testing.T) {
	src := source(t,
		requires(pkg("keycloak", "24.0.5"), "postgresql", ">=12"),
		requires(pkg("keycloak", "25.0.6"), "postgresql", ">=16"),
		requires(pkg("gitea", "1.22.3"), "postgresql", ">=12, <16"),
		pkg("postgresql", "15.8"), pkg("postgresql", "16.4"))
	for _, git := range []topology.NodeID{"gitea-1", "scm-1"} {
		topo, reqs := hunt17SharedPostgres(t, git)
		plan, err := upgrade.NewPlanner(topo, src).PlanAll(t.Context(), reqs...)
		require.NoError(t, err, git)
		requireTopological(t, plan)
		want := []upgrade.StepID{"platform/keycloak-1@24.0.5", "platform/keycloak-2@24.0.5", "platform/keycloak-3@24.0.5",
			"platform/keycloak-4@24.0.5", upgrade.StepID("platform/" + git + "@1.22.3")}
		slices.Sort(want)
		var got []upgrade.StepID
		for _, s := range plan.Steps {
			if s.Kind == upgrade.Platform {
				got = append(got, s.ID)
			}
		}
		assert.Equal(t, want, got, git)
		assert.Empty(t, plan.Warnings, git)
		kc := decided(t, plan, "keycloak-1")
		require.Equal(t, "25.0.6", kc.Candidates[0].Version.String())
		assert.Contains(t, kc.Candidates[0].Rejected, "requires postgresql >=16, which ", git)
	}
}
