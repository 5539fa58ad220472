package pgrun

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// fleetPlan is a platform step "base" and n application steps of one
// template after it, rolled by r.
func fleetPlan(t testing.TB, n int, r upgrade.Rolling) *upgrade.Plan {
	t.Helper()
	p := &upgrade.Plan{ID: "fleet", Steps: []upgrade.Step{{ID: "base", Kind: upgrade.Platform, Node: "db-1"}}}
	for i := range n {
		node := topology.NodeID(fmt.Sprintf("shop-%04d", i))
		p.Steps = append(p.Steps, upgrade.Step{ID: upgrade.StepID("app/" + string(node)), Kind: upgrade.Application,
			App: "shop", Template: "shop_app", Node: node, After: []upgrade.StepID{"base"}})
	}
	rolled, err := p.Roll(r)
	require.NoError(t, err)
	return rolled
}

// expandedEdges counts the step-to-step edges of plan with its barriers
// expanded, as version 1 of the schema stored them.
func expandedEdges(plan *upgrade.Plan) int {
	n := 0
	for _, st := range plan.Steps {
		n += len(plan.Prerequisites(st.ID))
	}
	return n
}

func TestRolledPlanCostsRowsInProportionToSteps(t *testing.T) {
	s, _ := testStore(t)
	createEffects(t, s)
	ctx := context.Background()
	plan := fleetPlan(t, 2000, upgrade.Rolling{Canaries: 1, MaxInFlight: "50%"})
	require.NotEmpty(t, plan.Barriers)
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 8}))
	var edges, rows int
	require.NoError(t, s.pool.QueryRow(ctx, s.q(`SELECT (SELECT count(*) FROM {s}.edges), (SELECT count(*) FROM {s}.steps)`)).Scan(&edges, &rows))
	direct := 0
	for _, st := range plan.Steps {
		direct += len(st.After)
	}
	for _, b := range plan.Barriers {
		direct += len(b.After)
	}
	expanded := expandedEdges(plan)
	t.Logf("%d steps, %d barriers: %d edge rows (%d with barriers expanded), %d step rows", len(plan.Steps), len(plan.Barriers), edges, expanded, rows)
	assert.Equal(t, direct, edges, "one row per After entry")
	assert.LessOrEqual(t, edges, 3*len(plan.Steps), "edges linear in the steps")
	assert.Equal(t, len(plan.Steps)+len(plan.Barriers), rows)

	exec := &effectExec{s: s, worker: "in-process"}
	o := fastWorker
	o.Slots = 4
	work(t, s, plan.ID, 3, exec, o)
	st := checkRun(t, s, plan, 8) // no step before its prerequisites, barriers expanded
	assert.Len(t, st.Report.Outcomes, len(plan.Steps), "barriers are not steps in the report")
	events, err := s.Events(ctx, plan.ID, 0, 100000)
	require.NoError(t, err)
	assert.Len(t, events, 2*len(plan.Steps))
}

func TestBarrierSkippedWhenABatchFails(t *testing.T) {
	plan := fleetPlan(t, 10, upgrade.Rolling{Canaries: 2, MaxInFlight: "3"})
	plan.Steps = append(plan.Steps, upgrade.Step{ID: "alone", Kind: upgrade.Platform, Node: "other-1"})
	require.Len(t, plan.Barriers, 3)
	// The second batch is shop-0002..0004: fail one of them.
	bad := upgrade.StepID("app/shop-0003")
	s, _ := testStore(t)
	ctx := context.Background()
	require.NoError(t, s.Submit(ctx, plan, Options{Concurrency: 2, Policy: upgrade.ContinueIndependent}))
	exec := &upgradetest.Executor{}
	exec.FailAt(bad, errors.New("boom"))
	work(t, s, plan.ID, 2, exec, fastWorker)
	st, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, st.Finished)
	require.Len(t, st.Report.Outcomes, len(plan.Steps))
	for _, o := range st.Report.Outcomes {
		want := upgrade.Succeeded
		switch {
		case o.Step == bad:
			want = upgrade.Failed
		case o.Step >= "app/shop-0005" && o.Step <= "app/shop-0009":
			want = upgrade.Skipped
		}
		assert.Equal(t, want, o.State, o.Step)
	}
	for _, id := range exec.Started() {
		assert.False(t, id >= "app/shop-0005" && id <= "app/shop-0009", "%s ran after a failed batch", id)
	}
	events, err := s.Events(ctx, plan.ID, 0, 1000)
	require.NoError(t, err)
	assert.Equal(t, len(plan.Steps), events[len(events)-1].Done, "done counts steps, not barriers")
	skips := 0
	for _, e := range events {
		if e.Kind == upgrade.StepSkipped {
			skips++
		}
	}
	assert.Equal(t, 5, skips)
	// Paged from each page's last Seq, they are the same events; a limit
	// of 0 or less gives none.
	var paged []Event
	for after := int64(0); ; {
		page, err := s.Events(ctx, plan.ID, after, 7)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		paged, after = append(paged, page...), page[len(page)-1].Seq
	}
	assert.Equal(t, events, paged)
	for _, limit := range []int{0, -1} {
		none, err := s.Events(ctx, plan.ID, 0, limit)
		require.NoError(t, err)
		assert.Empty(t, none, "limit %d", limit)
	}
}
