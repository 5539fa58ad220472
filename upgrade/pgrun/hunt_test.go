package pgrun

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestConformanceAbandonedNotRolledBack: a step whose Execute ignores its
// context past the step timeout and the grace period is abandoned, and
// its Execute may still be changing the node; upgrade.Run does not undo
// it then, nor the steps before it, and says why. The workers must not
// call Rollback for it either.
func TestConformanceAbandonedNotRolledBack(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	release := make(chan struct{})
	var hung sync.WaitGroup
	set := func(e *upgradetest.Executor) {
		e.Func = func(ctx context.Context, st upgrade.Step) error {
			if st.ID == "b" {
				hung.Add(1)
				defer hung.Done()
				<-release // ignores ctx
			}
			return nil
		}
	}
	t.Cleanup(func() { close(release); hung.Wait() })
	opts := Options{Rollback: true, StepTimeout: 20 * time.Millisecond}
	const grace = 20 * time.Millisecond
	inProc, remote := &upgradetest.Executor{}, &upgradetest.Executor{}
	set(inProc)
	set(remote)
	plan := chain3("")
	want, wantErr := upgrade.Run(ctx, plan, inProc, append(runOptions(opts), upgrade.WithGracePeriod(grace))...)
	require.NotNil(t, want)
	b, _ := want.Outcome("b")
	require.True(t, b.Abandoned, "the test's premise: Run abandons b")

	plan.ID = "abandoned"
	require.NoError(t, s.Submit(ctx, plan, opts))
	o := fastWorker
	o.GracePeriod = grace
	work(t, s, plan.ID, 2, remote, o)
	got, err := s.Status(ctx, plan.ID)
	require.NoError(t, err)
	require.True(t, got.Finished)
	for i, w := range want.Outcomes {
		g := got.Report.Outcomes[i]
		assert.Equal(t, w.State.String(), g.State.String(), "state of %s", w.Step)
		assert.Equal(t, sentinels(w.Err), sentinels(g.Err), "error kinds of %s: %v, %v", w.Step, w.Err, g.Err)
	}
	assert.Equal(t, sentinels(wantErr), sentinels(got.Err), "run error kinds: %v, %v", wantErr, got.Err)
	assert.Equal(t, inProc.RolledBack(), remote.RolledBack(), "steps rolled back")
	_ = fmt.Sprint
}
