package upgrade_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
)

// recorder is an executor that records the steps it runs and fails the
// ones named in fail.
type recorder struct {
	mu   sync.Mutex
	ran  []upgrade.StepID
	fail map[upgrade.StepID]error
}

func (r *recorder) Execute(_ context.Context, s upgrade.Step) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ran = append(r.ran, s.ID)
	return r.fail[s.ID]
}

func shopPlan(t *testing.T, instances int) *upgrade.Plan {
	t.Helper()
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(instances)), catalogue(t)).
		Plan(context.Background(), shop2("tomcat_server", ">=9.0, <11", "java_runtime", ">=11"))
	require.NoError(t, err)
	return plan
}

func states(r *upgrade.Report) map[upgrade.StepID]upgrade.State {
	m := map[upgrade.StepID]upgrade.State{}
	for _, o := range r.Outcomes {
		m[o.Step] = o.State
	}
	return m
}

func TestRunAllSucceed(t *testing.T) {
	plan := shopPlan(t, 2)
	rec := &recorder{}
	report, err := upgrade.Run(context.Background(), plan, rec)
	require.NoError(t, err)
	assert.Equal(t, ids(plan), rec.ran, "sequential run follows the plan's order")
	assert.Equal(t, len(plan.Steps), report.Count(upgrade.Succeeded))
	for i, o := range report.Outcomes {
		assert.Equal(t, plan.Steps[i].ID, o.Step)
		assert.NoError(t, o.Err)
	}
}

func TestRunStopsAtFirstFailure(t *testing.T) {
	plan := shopPlan(t, 2)
	boom := errors.New("disk full")
	rec := &recorder{fail: map[upgrade.StepID]error{"platform/java-1@21.0.2": boom}}
	report, err := upgrade.Run(context.Background(), plan, rec)

	require.ErrorIs(t, err, upgrade.ErrStepFailed)
	require.ErrorIs(t, err, boom)
	var se *upgrade.StepError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, upgrade.StepID("platform/java-1@21.0.2"), se.Step)
	assert.Equal(t, "java-1", string(se.Node))
	assert.Contains(t, err.Error(), "disk full")

	assert.Equal(t, []upgrade.StepID{"platform/java-1@21.0.2"}, rec.ran, "nothing runs after the failure")
	assert.Equal(t, map[upgrade.StepID]upgrade.State{
		"platform/java-1@21.0.2":    upgrade.Failed,
		"platform/tomcat-1@10.1.34": upgrade.Skipped, // after the failed step
		"app/shop-1@2.0.0":          upgrade.Skipped, // after it transitively
		"platform/java-2@21.0.2":    upgrade.NotStarted,
		"platform/tomcat-2@10.1.34": upgrade.NotStarted,
		"app/shop-2@2.0.0":          upgrade.NotStarted,
	}, states(report))
	o, ok := report.Outcome("platform/java-1@21.0.2")
	require.True(t, ok)
	assert.Equal(t, boom, o.Err)
	assert.Equal(t, len(plan.Steps), report.Count(upgrade.Failed)+report.Count(upgrade.Skipped)+report.Count(upgrade.NotStarted)+report.Count(upgrade.Succeeded))
}

func TestRunHonoursAfterWhateverTheOrder(t *testing.T) {
	plan := shopPlan(t, 1)
	// Reverse the steps: Run must still run each after its After steps.
	for i, j := 0, len(plan.Steps)-1; i < j; i, j = i+1, j-1 {
		plan.Steps[i], plan.Steps[j] = plan.Steps[j], plan.Steps[i]
	}
	rec := &recorder{}
	report, err := upgrade.Run(context.Background(), plan, rec)
	require.NoError(t, err)
	assert.Equal(t, []upgrade.StepID{"platform/java-1@21.0.2", "platform/tomcat-1@10.1.34", "app/shop-1@2.0.0"}, rec.ran)
	assert.Equal(t, upgrade.StepID("app/shop-1@2.0.0"), report.Outcomes[0].Step, "outcomes follow the plan's order")
}

func TestRunCancelled(t *testing.T) {
	plan := shopPlan(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	rec := &recorder{}
	exec := upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
		cancel() // cancelled while the first step runs; it still succeeds
		return rec.Execute(ctx, s)
	})
	report, err := upgrade.Run(ctx, plan, exec)
	require.ErrorIs(t, err, context.Canceled)
	assert.Len(t, rec.ran, 1, "nothing new starts once cancelled")
	assert.Equal(t, 1, report.Count(upgrade.Succeeded))
	assert.Equal(t, 2, report.Count(upgrade.NotStarted))
}

func TestRunInvalidPlan(t *testing.T) {
	tests := []struct {
		name    string
		steps   []upgrade.Step
		mention string
	}{
		{"unknown after", []upgrade.Step{{ID: "a", After: []upgrade.StepID{"ghost"}}}, "ghost"},
		{"duplicate", []upgrade.Step{{ID: "a"}, {ID: "a"}}, "duplicate step ID a"},
		{"cycle", []upgrade.Step{{ID: "a", After: []upgrade.StepID{"b"}}, {ID: "b", After: []upgrade.StepID{"a"}}}, "a → b → a"},
	}
	t.Run("nil", func(t *testing.T) {
		report, err := upgrade.Run(context.Background(), nil, &recorder{})
		require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
		assert.Contains(t, err.Error(), "plan is nil")
		assert.Nil(t, report)
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			report, err := upgrade.Run(context.Background(), &upgrade.Plan{Steps: tt.steps}, rec)
			require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
			assert.Contains(t, err.Error(), tt.mention)
			assert.Nil(t, report)
			assert.Empty(t, rec.ran, "an invalid plan runs nothing")
		})
	}
}

func TestStateStrings(t *testing.T) {
	assert.Equal(t, "not started", upgrade.NotStarted.String())
	assert.Equal(t, "succeeded", upgrade.Succeeded.String())
	assert.Equal(t, "failed", upgrade.Failed.String())
	assert.Equal(t, "skipped", upgrade.Skipped.String())
	assert.Equal(t, "State(9)", upgrade.State(9).String())
}
