package upgrade_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// TestRunKeepsStepsOfOneNodeApart: a plan built by hand, or read from a
// file, may hold two steps on one node with no order between them. Run
// never runs them at once, as pgrun's node locks do not: the second waits
// for the node, and the steps of other nodes, and those of none, run
// meanwhile. Before, with a concurrency of 2 or more, both changed the
// node at once.
func TestRunKeepsStepsOfOneNodeApart(t *testing.T) {
	for _, concurrency := range []int{2, 6} {
		synctest.Test(t, func(t *testing.T) {
			plan := &upgrade.Plan{Steps: []upgrade.Step{
				{ID: "a", Node: "n1"}, {ID: "b", Node: "n1"}, {ID: "c", Node: "n2"},
				{ID: "d"}, {ID: "e"}, {ID: "f", Node: "n1"}}}
			release := make(chan struct{})
			var mu sync.Mutex
			running := map[topology.NodeID]int{}
			most := map[topology.NodeID]int{}
			var started []upgrade.StepID
			exec := upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
				mu.Lock()
				started = append(started, s.ID)
				running[s.Node]++
				most[s.Node] = max(most[s.Node], running[s.Node])
				mu.Unlock()
				<-release
				mu.Lock()
				running[s.Node]--
				mu.Unlock()
				return nil
			})
			type ran struct {
				report *upgrade.Report
				err    error
			}
			done := make(chan ran, 1)
			go func() {
				report, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithConcurrency(concurrency))
				done <- ran{report, err}
			}()
			synctest.Wait() // every worker that could start a step has, and waits in it
			mu.Lock()
			want := []upgrade.StepID{"a", "c", "d", "e"}[:min(concurrency, 4)]
			// The workers start their steps at once: in any order.
			assert.ElementsMatch(t, want, started, "concurrency %d: b and f wait for a's node; the others run", concurrency)
			mu.Unlock()
			close(release)
			r := <-done
			require.NoError(t, r.err)
			assert.Equal(t, len(plan.Steps), r.report.Count(upgrade.Succeeded))
			assert.Equal(t, 1, most["n1"], "two steps changed n1 at once")
			if concurrency > 2 {
				assert.Equal(t, 2, most[""], "steps of no node share none")
			}
		})
	}
}
