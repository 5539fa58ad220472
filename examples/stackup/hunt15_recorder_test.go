package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

// TestHunt15RecorderHandsOverTogether checks that a recorder returns at
// once from each event, hands the steps over in the order reported, and
// those reported while it was busy at once, learnt and unlearnt apart,
// and that Wait returns every error.
func TestHunt15RecorderHandsOverTogether(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var calls []string
	call := func(kind string) func(context.Context, []upgrade.Step) error {
		return func(_ context.Context, steps []upgrade.Step) error {
			var ids []string
			for _, s := range steps {
				ids = append(ids, string(s.ID))
			}
			mu.Lock()
			calls = append(calls, kind+" "+strings.Join(ids, ","))
			first := len(calls) == 1
			mu.Unlock()
			if first {
				close(entered)
				<-release
			}
			if kind == "unlearn" {
				return fmt.Errorf("cannot unlearn %s", strings.Join(ids, ","))
			}
			return nil
		}
	}
	r := newRecorder(call("learn"), call("unlearn"))
	ev := func(kind upgrade.EventKind, id string) {
		r.event(upgrade.Event{Kind: kind, Step: &upgrade.Step{ID: upgrade.StepID(id)}})
	}
	ev(upgrade.StepSucceeded, "a")
	<-entered // learning a, and held there
	ev(upgrade.StepStarted, "b")
	ev(upgrade.StepSucceeded, "b")
	ev(upgrade.StepSucceeded, "c")
	ev(upgrade.StepRolledBack, "c")
	ev(upgrade.StepRolledBack, "b")
	ev(upgrade.StepSucceeded, "d")
	close(release)
	errs := r.Wait()
	assert.Equal(t, []string{"learn a", "learn b,c", "unlearn c,b", "learn d"}, calls)
	require.Len(t, errs, 1)
	assert.EqualError(t, errs[0], "cannot unlearn c,b")
	assert.Empty(t, r.Wait(), "errors are returned once")

	ev(upgrade.StepSucceeded, "e") // a recorder goes on after a Wait
	assert.Empty(t, r.Wait())
	assert.Equal(t, "learn e", calls[len(calls)-1])
}

// TestHunt15LearnAllRecordsTheOthers checks that LearnAll records steps in
// one write, and that a step the file cannot record (its node is not in
// it) keeps none of the others from it: its error names the node.
func TestHunt15LearnAllRecordsTheOthers(t *testing.T) {
	e := newApplyEnv(t)
	inv := newInventory(&inputFlags{topology: e.topo})
	ctx := t.Context()
	step := func(node string, to string) upgrade.Step {
		return upgrade.Step{Kind: upgrade.Platform, Node: topology.NodeID(node), To: version.MustParse(to)}
	}
	require.NoError(t, inv.LearnAll(ctx, []upgrade.Step{step("tomcat-1", "9.0.98"), step("tomcat-1", "10.1.34"), step("java-2", "17.0.13")}))
	assert.Equal(t, "10.1.34", e.nodeVersion(t, "tomcat-1"), "the last of its steps")
	assert.Equal(t, "17.0.13", e.nodeVersion(t, "java-2"))

	err := inv.LearnAll(ctx, []upgrade.Step{step("tomcat-2", "9.0.98"), step("ghost-1", "1.0.0"), step("java-1", "17.0.13")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "recording ghost-1 at 1.0.0 in "+e.topo+": ")
	assert.Equal(t, "9.0.98", e.nodeVersion(t, "tomcat-2"), "the others are recorded")
	assert.Equal(t, "17.0.13", e.nodeVersion(t, "java-1"))
}

// TestHunt15RecorderWithoutUnlearn: a server given a learn hook and no
// unlearn one (as tests give it) recorded each step rolled back by
// calling the nil unlearn, which panicked in the recorder's goroutine.
// A nil hook does nothing.
func TestHunt15RecorderWithoutUnlearn(t *testing.T) {
	var learnt []upgrade.StepID
	r := newRecorder(func(_ context.Context, steps []upgrade.Step) error {
		for _, s := range steps {
			learnt = append(learnt, s.ID)
		}
		return nil
	}, nil)
	r.event(upgrade.Event{Kind: upgrade.StepSucceeded, Step: &upgrade.Step{ID: "a"}})
	r.event(upgrade.Event{Kind: upgrade.StepRolledBack, Step: &upgrade.Step{ID: "a"}})
	assert.Empty(t, r.Wait())
	assert.Equal(t, []upgrade.StepID{"a"}, learnt)
}
