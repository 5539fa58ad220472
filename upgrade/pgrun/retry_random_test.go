package pgrun

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// TestRetryRandomConformance runs random plans, mostly one step at a
// time, with retries, and random failures of steps (every attempt, or the
// first) and of their rollbacks, through upgrade.Run with a journal and
// through workers; then twice, some faults mended before each time, again
// through upgrade.Run resumed from the journal and through Store.Retry.
// Both runners must agree after each run: the state of every step, its
// attempts, whether it has an error, was resumed (kept as succeeded), is
// in doubt or was abandoned, the steps executed and rolled back, in order
// (as sets when two run at a time), and those offered in doubt. A third
// of the plans are rolled out (Plan.Roll): barriers between their waves.
// 400 seeds passed when it was written; against the Retry before, which
// kept as succeeded a step whose rollback had failed, 11 of these 80 fail;
// against the Retry before schema version 14, which reported the steps
// it kept with their earlier attempts and doubt, none resumed, 29 do.
func TestRetryRandomConformance(t *testing.T) {
	s, _ := testStore(t)
	barriers := 0 // plans with barriers: the generator makes some
	for seed := range 80 {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 11))
			plan := randomChainedPlan(rng, fmt.Sprintf("retry-random-%d", seed))
			if rng.IntN(3) == 0 {
				plan = randomRolledPlan(t, rng, plan.ID)
			}
			if len(plan.Barriers) > 0 {
				barriers++
			}
			o := Options{Concurrency: 1, Rollback: rng.IntN(3) > 0,
				Policy:   []upgrade.FailurePolicy{upgrade.FailFast, upgrade.ContinueIndependent}[rng.IntN(2)],
				Attempts: 1 + rng.IntN(2), Backoff: time.Millisecond, MaxBackoff: time.Millisecond}
			if rng.IntN(4) == 0 {
				// Two at a time: which step starts or completes first is
				// timing, and so is what FailFast leaves unstarted and the
				// order of a rollback; what runs is not.
				o.Concurrency, o.Policy, o.Rollback = 2, upgrade.ContinueIndependent, false
			}
			// Each step fails every time (2), the first time only (1), or
			// never; its rollback fails or not.
			failing, undoFailing := map[upgrade.StepID]int{}, map[upgrade.StepID]bool{}
			for _, st := range plan.Steps {
				failing[st.ID] = max(rng.IntN(6)-3, 0)
				undoFailing[st.ID] = rng.IntN(3) == 0
			}
			newExec := func() *upgradetest.Executor {
				e := &upgradetest.Executor{}
				for id, n := range failing {
					switch n {
					case 1:
						e.FailTimes(id, 1, errBoom)
					case 2:
						e.FailAt(id, errBoom)
					}
					if undoFailing[id] {
						e.FailRollback(id, errors.New("cannot undo"))
					}
				}
				return e
			}
			t.Logf("plan %v, options %+v, failing %v, undo failing %v", plan.Steps, o, failing, undoFailing)

			ctx := context.Background()
			j, err := upgrade.OpenFileJournal(t.TempDir() + "/journal")
			require.NoError(t, err)
			defer j.Close()
			inProc, remote := newExec(), newExec()
			var wantEvents []confEvent
			runOpts := append(runOptions(o.normal()), upgrade.WithJournal(j), recordEvents(&wantEvents))
			want, wantErr := upgrade.Run(ctx, plan, inProc, runOpts...)
			require.NotNil(t, want, "%v", wantErr)
			require.NoError(t, s.Submit(ctx, plan, o))
			work(t, s, plan.ID, 1, remote, fastWorker)
			got, err := s.Status(ctx, plan.ID)
			require.NoError(t, err)
			gotEvents, seen := storeEvents(t, s, plan.ID, 0)
			if !sameRuns(t, "first run", o.Concurrency == 1, want, wantErr, got, inProc, remote) ||
				!sameEvents(t, "first run", o.Concurrency == 1, wantEvents, gotEvents) {
				return
			}
			// Taken up again, twice, some faults mended before each time.
			for round := range 2 {
				var mended []upgrade.StepID
				for _, st := range plan.Steps {
					if rng.IntN(2) == 0 {
						mended = append(mended, st.ID)
					}
				}
				t.Logf("round %d mends %v", round+1, mended)
				for _, e := range []*upgradetest.Executor{inProc, remote} {
					for _, id := range mended {
						e.FailTimes(id, 0, nil)
						e.FailRollback(id, nil)
					}
				}
				last := want
				wantEvents = nil
				want, wantErr = upgrade.Run(ctx, plan, inProc, runOpts...)
				require.NotNil(t, want, "%v", wantErr)
				again, err := s.Retry(ctx, plan.ID)
				require.NoError(t, err)
				if again {
					work(t, s, plan.ID, 1, remote, fastWorker)
				} else {
					// Every step had succeeded: Retry changed nothing, and
					// Status reports the run that ended, as upgrade.Run
					// did then (resumed, it now reports every step
					// resumed, having run nothing, and emits nothing).
					want = last
				}
				got, err = s.Status(ctx, plan.ID)
				require.NoError(t, err)
				what := fmt.Sprintf("taken up again (%d)", round+1)
				gotEvents, seen = storeEvents(t, s, plan.ID, seen)
				if !sameRuns(t, what, o.Concurrency == 1, want, wantErr, got, inProc, remote) ||
					!sameEvents(t, what, o.Concurrency == 1, wantEvents, gotEvents) {
					return
				}
			}
		})
	}
	assert.Positive(t, barriers, "no plan with barriers")
}

// sameRuns reports whether upgrade.Run's report and error agree with the
// store's status (each step's state, attempts, error, and whether it was
// resumed, in doubt or abandoned), and both executors saw the same calls
// (in the same order, if ordered), failing t where they do not.
func sameRuns(t *testing.T, what string, ordered bool, want *upgrade.Report, wantErr error, got *Status,
	inProc, remote *upgradetest.Executor) bool {
	t.Helper()
	ok := assert.True(t, got.Finished, what)
	ok = assert.Equal(t, confOutcomes(want), confOutcomes(got.Report), "%s: outcomes", what) && ok
	ok = assert.Equal(t, inDoubtOf(want), got.InDoubt, "%s: steps in doubt", what) && ok
	ok = assert.Equal(t, wantErr != nil, got.Err != nil, "%s: run error: %v / %v", what, wantErr, got.Err) && ok
	if !ordered {
		ok = assert.ElementsMatch(t, inProc.Started(), remote.Started(), "%s: steps executed", what) && ok
		return assert.ElementsMatch(t, inProc.InDoubt(), remote.InDoubt(), "%s: steps offered in doubt", what) && ok
	}
	ok = assert.Equal(t, inProc.Started(), remote.Started(), "%s: steps executed, in order", what) && ok
	ok = assert.Equal(t, inProc.RolledBack(), remote.RolledBack(), "%s: steps rolled back, in order", what) && ok
	return assert.Equal(t, inProc.InDoubt(), remote.InDoubt(), "%s: steps offered in doubt", what) && ok
}

// randomChainedPlan returns a plan of 3 to 7 steps, each on a node of its
// own and after up to two of the steps before it.
func randomChainedPlan(rng *rand.Rand, id string) *upgrade.Plan {
	plan := &upgrade.Plan{ID: id}
	for i := range 3 + rng.IntN(5) {
		st := upgrade.Step{ID: upgrade.StepID(fmt.Sprintf("s%d", i)), Kind: upgrade.Platform, Node: topology.NodeID(fmt.Sprintf("n%d", i))}
		for range rng.IntN(3) {
			if i == 0 {
				break
			}
			before := plan.Steps[rng.IntN(i)].ID
			if !slices.Contains(st.After, before) {
				st.After = append(st.After, before)
			}
		}
		plan.Steps = append(plan.Steps, st)
	}
	return plan
}

// randomRolledPlan returns a plan of 1 to 3 platform steps and 2 to 6
// instances of one application template, each after some of them, rolled
// out with 0 to 2 canaries and batches of a random size: barriers between
// its waves.
func randomRolledPlan(t *testing.T, rng *rand.Rand, id string) *upgrade.Plan {
	t.Helper()
	plan := randomChainedPlan(rng, id)
	plan.Steps = plan.Steps[:1+rng.IntN(3)] // each after steps before it: still a plan
	platform := len(plan.Steps)
	for i := range 2 + rng.IntN(5) {
		st := upgrade.Step{ID: upgrade.StepID(fmt.Sprintf("app/shop-%d", i)), Kind: upgrade.Application, App: "shop",
			Template: "shop_app", Node: topology.NodeID(fmt.Sprintf("shop-%d", i))}
		for k := range platform {
			if rng.IntN(2) == 0 {
				st.After = append(st.After, plan.Steps[k].ID)
			}
		}
		plan.Steps = append(plan.Steps, st)
	}
	rolled, err := plan.Roll(upgrade.Rolling{Canaries: rng.IntN(3), MaxInFlight: []string{"", "1", "2", "50%"}[rng.IntN(4)]})
	require.NoError(t, err)
	rolled.ID = id
	return rolled
}
