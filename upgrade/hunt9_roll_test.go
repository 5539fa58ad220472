package upgrade_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/upgrade/upgradetest"
)

// hunt9Shop plans shop 2.0 on n instances shop-N, each on its own
// tomcat-N, which goes to 9.0.98 first.
func hunt9Shop(t *testing.T, n int) *upgrade.Plan {
	t.Helper()
	plan, err := upgrade.NewPlanner(build(t, shopBuilder(n)), catalogue(t)).Plan(t.Context(), shop2("tomcat_server", ">=9.0, <10"))
	require.NoError(t, err)
	return plan
}

// hunt9App and hunt9Tomcat are the IDs of the steps of instance i.
func hunt9App(i int) upgrade.StepID { return upgrade.StepID(fmt.Sprintf("app/shop-%d@2.0.0", i)) }
func hunt9Tomcat(i int) upgrade.StepID {
	return upgrade.StepID(fmt.Sprintf("platform/tomcat-%d@9.0.98", i))
}

// hunt9Waves returns, for instances 1 to n of hunt9Shop, what each
// instance's application step and each tomcat step must wait for, beside
// its own tomcat: the instances of the waves given (1-based instance
// numbers), each wave after the whole wave before.
func hunt9Waves(waves ...[]int) (app, tomcat map[upgrade.StepID][]upgrade.StepID) {
	app, tomcat = map[upgrade.StepID][]upgrade.StepID{}, map[upgrade.StepID][]upgrade.StepID{}
	var before []upgrade.StepID
	for _, w := range waves {
		for _, i := range w {
			app[hunt9App(i)] = append(append([]upgrade.StepID{}, before...), hunt9Tomcat(i))
			tomcat[hunt9Tomcat(i)] = before
		}
		before = nil
		for _, i := range w {
			before = append(before, hunt9App(i))
		}
	}
	return app, tomcat
}

// requireHunt9Waves checks every step of a rolled hunt9Shop plan against
// hunt9Waves.
func requireHunt9Waves(t *testing.T, rolled *upgrade.Plan, waves ...[]int) {
	t.Helper()
	requireTopological(t, rolled)
	app, tomcat := hunt9Waves(waves...)
	require.Len(t, rolled.Steps, len(app)+len(tomcat), "no step lost or added")
	for id, want := range app {
		assert.ElementsMatch(t, want, rolled.Prerequisites(id), id)
	}
	for id, want := range tomcat {
		assert.ElementsMatch(t, want, rolled.Prerequisites(id), id)
	}
}

// TestHunt9RollCanaryThenBatches: one canary, then batches of a count or
// a percentage of all the instances (BOSH's canaries and max_in_flight),
// rounded down but never below one; a tomcat waits for the wave before
// its instance, so that a failed wave leaves the rest as they were.
func TestHunt9RollCanaryThenBatches(t *testing.T) {
	for _, tc := range []struct {
		n     int
		r     upgrade.Rolling
		waves [][]int
	}{
		{5, upgrade.Rolling{Canaries: 1, MaxInFlight: "2"}, [][]int{{1}, {2, 3}, {4, 5}}},
		{5, upgrade.Rolling{Canaries: 1, MaxInFlight: "50%"}, [][]int{{1}, {2, 3}, {4, 5}}}, // 2.5 rounds down
		{4, upgrade.Rolling{Canaries: 1, MaxInFlight: "3"}, [][]int{{1}, {2, 3, 4}}},
		{3, upgrade.Rolling{MaxInFlight: "1%"}, [][]int{{1}, {2}, {3}}},             // 0.03 rounds up to one
		{3, upgrade.Rolling{Canaries: 1}, [][]int{{1}, {2, 3}}},                     // the rest at once
		{3, upgrade.Rolling{Canaries: 5}, [][]int{{1, 2, 3}}},                       // more canaries than instances
		{3, upgrade.Rolling{Canaries: 1, MaxInFlight: "500"}, [][]int{{1}, {2, 3}}}, // a batch larger than the fleet
		{3, upgrade.Rolling{MaxInFlight: "100%"}, [][]int{{1, 2, 3}}},
		{3, upgrade.Rolling{Canaries: math.MaxInt, MaxInFlight: strconv.Itoa(math.MaxInt)}, [][]int{{1, 2, 3}}},
	} {
		t.Run(fmt.Sprintf("%d/%d/%s", tc.n, tc.r.Canaries, tc.r.MaxInFlight), func(t *testing.T) {
			rolled, err := hunt9Shop(t, tc.n).Roll(tc.r)
			require.NoError(t, err)
			requireHunt9Waves(t, rolled, tc.waves...)
		})
	}
}

// TestHunt9RollOneInTenPercent: 1% of ten instances is one at a time,
// each with its tomcat held for the instance before.
func TestHunt9RollOneInTenPercent(t *testing.T) {
	rolled, err := hunt9Shop(t, 10).Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "1%"})
	require.NoError(t, err)
	// Node IDs sort as strings: shop-10 comes after shop-1.
	waves := [][]int{{1}, {10}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}}
	requireHunt9Waves(t, rolled, waves...)
	assert.Empty(t, rolled.Barriers, "batches of one need no barrier")
}

// hunt9Stacked plans shop 2.0 on instances shop-1 to shop-4, two to a
// VM (vm-a: shop-1 and shop-2, vm-b: shop-3 and shop-4), each VM going to
// Ubuntu 22.04 first.
func hunt9Stacked(t *testing.T) *upgrade.Plan {
	t.Helper()
	b := new(topology.Builder).
		Template("shop", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: v("20.04")}).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.0.0")})
	for vm, apps := range map[topology.NodeID][]topology.NodeID{"vm-a": {"shop-1", "shop-2"}, "vm-b": {"shop-3", "shop-4"}} {
		b.Node("shop", topology.Node{ID: vm, Template: "ubuntu_os"})
		for _, a := range apps {
			b.Node("shop", topology.Node{ID: a, Template: "shop_app", Relationships: on(vm)})
		}
	}
	plan, err := upgrade.NewPlanner(build(t, b), source(t, pkg("ubuntu", "22.04"))).Plan(t.Context(), shop2("ubuntu_os", ">=22.04"))
	require.NoError(t, err)
	return plan
}

// assertHunt9Prerequisites checks what each step of rolled must wait for.
func assertHunt9Prerequisites(t *testing.T, rolled *upgrade.Plan, want map[upgrade.StepID][]upgrade.StepID) {
	t.Helper()
	for id, w := range want {
		assert.Equal(t, w, rolled.Prerequisites(id), id)
	}
}

// TestHunt9RollStackedInstances: with two instances to a VM, a VM's
// upgrade runs once, before the first wave holding one of its instances,
// and after the wave before that; a failed canary leaves the other VM as
// it was.
func TestHunt9RollStackedInstances(t *testing.T) {
	rolled, err := hunt9Stacked(t).Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "1"})
	require.NoError(t, err)
	requireTopological(t, rolled)
	assert.Equal(t, []upgrade.StepID{"platform/vm-a@22.4.0", "app/shop-1@2.0.0", "app/shop-2@2.0.0",
		"platform/vm-b@22.4.0", "app/shop-3@2.0.0", "app/shop-4@2.0.0"}, ids(rolled))
	assertHunt9Prerequisites(t, rolled, map[upgrade.StepID][]upgrade.StepID{
		"platform/vm-a@22.4.0": nil,
		"app/shop-1@2.0.0":     {"platform/vm-a@22.4.0"},
		"app/shop-2@2.0.0":     {"app/shop-1@2.0.0", "platform/vm-a@22.4.0"},
		"platform/vm-b@22.4.0": {"app/shop-2@2.0.0"},
		"app/shop-3@2.0.0":     {"app/shop-2@2.0.0", "platform/vm-b@22.4.0"},
		"app/shop-4@2.0.0":     {"app/shop-3@2.0.0", "platform/vm-b@22.4.0"},
	})

	exec := new(upgradetest.Executor)
	exec.FailAt("app/shop-1@2.0.0", errors.New("canary unhealthy"))
	_, err = upgrade.Run(t.Context(), rolled, exec, upgrade.WithConcurrency(8))
	require.ErrorIs(t, err, upgrade.ErrStepFailed)
	assert.Equal(t, []upgrade.StepID{"platform/vm-a@22.4.0", "app/shop-1@2.0.0"}, exec.Started())
}

// TestHunt9RollSharedPlatformOnce: shop and billing share four VMs. Each
// VM's step is in the plan once; the canaries' VM goes first, and the
// others wait for both canaries, as none of them is needed before.
func TestHunt9RollSharedPlatformOnce(t *testing.T) {
	plan := hunt2CoHosted(t, map[topology.NodeID][2]topology.NodeID{
		"vm-1": {"shop-1", "billing-1"}, "vm-2": {"shop-2", "billing-2"},
		"vm-3": {"shop-3", "billing-3"}, "vm-4": {"shop-4", "billing-4"}})
	rolled, err := plan.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "2"})
	require.NoError(t, err)
	requireTopological(t, rolled)
	assert.ElementsMatch(t, ids(plan), ids(rolled), "no step lost or repeated")
	canaries := []upgrade.StepID{"app/billing-1@2.0.0", "app/shop-1@2.0.0"}
	assert.Empty(t, rolled.Prerequisites("platform/vm-1@22.4.0"))
	for _, vm := range []string{"vm-2", "vm-3", "vm-4"} {
		assert.Equal(t, canaries, rolled.Prerequisites(upgrade.StepID("platform/"+vm+"@22.4.0")), vm)
	}
	for _, app := range []string{"shop", "billing"} {
		step := func(i int) upgrade.StepID { return upgrade.StepID(fmt.Sprintf("app/%s-%d@2.0.0", app, i)) }
		assert.Equal(t, []upgrade.StepID{step(1), "platform/vm-2@22.4.0"}, rolled.Prerequisites(step(2)))
		assert.Equal(t, []upgrade.StepID{step(1), "platform/vm-3@22.4.0"}, rolled.Prerequisites(step(3)))
		assert.Equal(t, []upgrade.StepID{step(2), step(3), "platform/vm-4@22.4.0"}, rolled.Prerequisites(step(4)))
	}

	// Run one at a time, in plan order: each VM runs once, before the
	// first instance on it.
	exec := new(upgradetest.Executor)
	_, err = upgrade.Run(t.Context(), rolled, exec)
	require.NoError(t, err)
	started := exec.Started()
	assert.Len(t, started, len(rolled.Steps))
	for i := 1; i <= 4; i++ {
		vm := slices.Index(started, upgrade.StepID(fmt.Sprintf("platform/vm-%d@22.4.0", i)))
		assert.Less(t, vm, slices.Index(started, upgrade.StepID(fmt.Sprintf("app/shop-%d@2.0.0", i))))
		assert.Less(t, vm, slices.Index(started, upgrade.StepID(fmt.Sprintf("app/billing-%d@2.0.0", i))))
	}
}

// TestHunt9RollNothingToRoll: a plan without application steps (a
// converged plan, planned again after a run) rolls to the same plan, with
// the same ID, since nothing changed.
func TestHunt9RollNothingToRoll(t *testing.T) {
	for _, p := range []*upgrade.Plan{
		{},
		{Steps: []upgrade.Step{{ID: "platform/vm-1@22.4.0", Kind: upgrade.Platform, Node: "vm-1"}}},
	} {
		p.ID = p.ComputeID()
		rolled, err := p.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "25%"})
		require.NoError(t, err)
		assert.Equal(t, p, rolled)
	}
}

// TestHunt9RollRunCanaryFails: the canary fails; nothing after it runs,
// and with rollback its platform step is undone, the canary's own partial
// change first.
func TestHunt9RollRunCanaryFails(t *testing.T) {
	rolled, err := hunt9Shop(t, 4).Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "2"})
	require.NoError(t, err)
	for _, rollback := range []bool{false, true} {
		t.Run(fmt.Sprint("rollback=", rollback), func(t *testing.T) {
			exec := new(upgradetest.Executor)
			exec.FailAt(hunt9App(1), errors.New("canary unhealthy"))
			opts := []upgrade.RunOption{upgrade.WithConcurrency(8), upgrade.WithFailurePolicy(upgrade.ContinueIndependent)}
			if rollback {
				opts = append(opts, upgrade.WithRollback())
			}
			report, err := upgrade.Run(t.Context(), rolled, exec, opts...)
			require.ErrorIs(t, err, upgrade.ErrStepFailed)
			assert.ErrorContains(t, err, "canary unhealthy")
			assert.Equal(t, []upgrade.StepID{hunt9Tomcat(1), hunt9App(1)}, exec.Started())
			want := map[upgrade.StepID]upgrade.State{hunt9Tomcat(1): upgrade.Succeeded, hunt9App(1): upgrade.Failed}
			if rollback {
				want = map[upgrade.StepID]upgrade.State{hunt9Tomcat(1): upgrade.RolledBack, hunt9App(1): upgrade.RolledBack}
				assert.Equal(t, []upgrade.StepID{hunt9App(1), hunt9Tomcat(1)}, exec.RolledBack())
			}
			for i := 2; i <= 4; i++ {
				want[hunt9Tomcat(i)], want[hunt9App(i)] = upgrade.Skipped, upgrade.Skipped
			}
			assert.Equal(t, want, states(report))
		})
	}
}

// TestHunt9RollRunMiddleWaveFails: a step of the wave {shop-2, shop-3}
// fails: shop-2 itself, or tomcat-2 beneath it with the run rolling back.
// Under FailFast, one at a time, nothing starts after it; under
// ContinueIndependent its wave mate still runs. The last wave, behind the
// barrier, with its Tomcats, is skipped; a rollback undoes what ran, last
// first, the failed step's partial change included.
func TestHunt9RollRunMiddleWaveFails(t *testing.T) {
	rolled, err := hunt9Shop(t, 5).Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "2"})
	require.NoError(t, err)
	fast, cont := upgrade.FailFast, upgrade.ContinueIndependent
	for _, tc := range []struct {
		fail       upgrade.StepID
		policy     upgrade.FailurePolicy
		rollback   bool
		started    []upgrade.StepID
		rolledBack []upgrade.StepID
		want       map[upgrade.StepID]upgrade.State // of tomcat-2, shop-2, tomcat-3, shop-3
	}{
		{hunt9App(2), fast, false, []upgrade.StepID{hunt9Tomcat(1), hunt9App(1), hunt9Tomcat(2), hunt9Tomcat(3), hunt9App(2)}, nil,
			map[upgrade.StepID]upgrade.State{hunt9Tomcat(2): upgrade.Succeeded, hunt9App(2): upgrade.Failed, hunt9Tomcat(3): upgrade.Succeeded, hunt9App(3): upgrade.NotStarted}},
		{hunt9App(2), cont, false, []upgrade.StepID{hunt9Tomcat(1), hunt9App(1), hunt9Tomcat(2), hunt9Tomcat(3), hunt9App(2), hunt9App(3)}, nil,
			map[upgrade.StepID]upgrade.State{hunt9Tomcat(2): upgrade.Succeeded, hunt9App(2): upgrade.Failed, hunt9Tomcat(3): upgrade.Succeeded, hunt9App(3): upgrade.Succeeded}},
		{hunt9Tomcat(2), fast, true, []upgrade.StepID{hunt9Tomcat(1), hunt9App(1), hunt9Tomcat(2)}, []upgrade.StepID{hunt9Tomcat(2), hunt9App(1), hunt9Tomcat(1)},
			map[upgrade.StepID]upgrade.State{hunt9Tomcat(2): upgrade.RolledBack, hunt9App(2): upgrade.Skipped, hunt9Tomcat(3): upgrade.NotStarted, hunt9App(3): upgrade.NotStarted}},
		{hunt9Tomcat(2), cont, true, []upgrade.StepID{hunt9Tomcat(1), hunt9App(1), hunt9Tomcat(2), hunt9Tomcat(3), hunt9App(3)},
			[]upgrade.StepID{hunt9App(3), hunt9Tomcat(3), hunt9Tomcat(2), hunt9App(1), hunt9Tomcat(1)},
			map[upgrade.StepID]upgrade.State{hunt9Tomcat(2): upgrade.RolledBack, hunt9App(2): upgrade.Skipped, hunt9Tomcat(3): upgrade.RolledBack, hunt9App(3): upgrade.RolledBack}},
	} {
		t.Run(fmt.Sprint(tc.fail, tc.policy, tc.rollback), func(t *testing.T) {
			exec := new(upgradetest.Executor)
			exec.FailAt(tc.fail, errors.New("unhealthy"))
			opts := []upgrade.RunOption{upgrade.WithFailurePolicy(tc.policy)}
			if tc.rollback {
				opts = append(opts, upgrade.WithRollback())
			}
			report, err := upgrade.Run(t.Context(), rolled, exec, opts...)
			require.ErrorIs(t, err, upgrade.ErrStepFailed)
			assert.ErrorContains(t, err, "step "+string(tc.fail)+" on node")
			assert.Equal(t, tc.started, exec.Started())
			assert.Equal(t, tc.rolledBack, exec.RolledBack())
			got := states(report)
			for id, want := range tc.want {
				assert.Equal(t, want, got[id], id)
			}
			for _, id := range []upgrade.StepID{hunt9Tomcat(4), hunt9Tomcat(5), hunt9App(4), hunt9App(5)} {
				assert.Equal(t, upgrade.Skipped, got[id], id)
			}
		})
	}
}

// TestHunt9RollConcurrencyWithinWave: a wave of four under a limit of two
// runs two at a time, and no step of a wave starts before the wave
// before has succeeded.
func TestHunt9RollConcurrencyWithinWave(t *testing.T) {
	rolled, err := hunt9Shop(t, 9).Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "4"})
	require.NoError(t, err)
	synctest.Test(t, func(t *testing.T) {
		exec := new(upgradetest.Executor)
		exec.Delay(time.Minute)
		var events []upgrade.Event
		_, err := upgrade.Run(t.Context(), rolled, exec, upgrade.WithConcurrency(2),
			upgrade.WithEvents(func(e upgrade.Event) { events = append(events, e) }))
		require.NoError(t, err)
		assert.Equal(t, 2, exec.Peak())
		wave := map[upgrade.StepID]int{hunt9App(1): 0}
		for i := 2; i <= 9; i++ {
			wave[hunt9App(i)] = 1 + (i-2)/4 // shop-2…5, shop-6…9
		}
		sizes := []int{1, 4, 4}
		done := make([]int, 3) // application steps succeeded, by wave
		for _, e := range events {
			w, ok := wave[e.Step.ID]
			switch {
			case !ok:
			case e.Kind == upgrade.StepStarted && w > 0:
				assert.Equal(t, sizes[w-1], done[w-1], "%s started before its wave's predecessors ended", e.Step.ID)
			case e.Kind == upgrade.StepSucceeded:
				done[w]++
			}
		}
		assert.Equal(t, sizes, done)
	})
}

// TestHunt9RollJSONRoundTrip: the rolled plan has its own ID and reads
// back from JSON, barriers and held platform steps included, identically.
func TestHunt9RollJSONRoundTrip(t *testing.T) {
	plan := hunt9Shop(t, 7)
	rolled, err := plan.Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "34%"})
	require.NoError(t, err)
	assert.NotEqual(t, plan.ID, rolled.ID)
	assert.Equal(t, rolled.ComputeID(), rolled.ID)
	require.Len(t, rolled.Barriers, 2) // waves {1}, {2,3}, {4,5}, {6,7}
	var buf bytes.Buffer
	require.NoError(t, rolled.WriteJSON(&buf))
	back, err := upgrade.ReadJSON(&buf)
	require.NoError(t, err)
	assert.Equal(t, rolled, back)
	requireHunt9Waves(t, back, []int{1}, []int{2, 3}, []int{4, 5}, []int{6, 7})
}

// TestHunt9RollHostileOptions: negative, zero, malformed and huge values
// get ErrInvalidRolling naming the option and what to give, whatever the
// plan holds, even nothing to roll.
func TestHunt9RollHostileOptions(t *testing.T) {
	for _, p := range []*upgrade.Plan{hunt9Shop(t, 3), {}} {
		for _, tc := range []struct {
			r    upgrade.Rolling
			want []string
		}{
			{upgrade.Rolling{Canaries: -1}, []string{"-1 canaries", "give 0 or more"}},
			{upgrade.Rolling{Canaries: math.MinInt}, []string{"canaries", "give 0 or more"}},
			{upgrade.Rolling{MaxInFlight: "0"}, []string{`max in flight "0"`, "give a count from 1"}},
			{upgrade.Rolling{MaxInFlight: "-2"}, []string{`max in flight "-2"`, "give a count from 1"}},
			{upgrade.Rolling{MaxInFlight: "0%"}, []string{`max in flight "0%"`, "a percentage from 1% to 100%"}},
			{upgrade.Rolling{MaxInFlight: "101%"}, []string{`max in flight "101%"`, "a percentage from 1% to 100%"}},
			{upgrade.Rolling{MaxInFlight: "99999999999999999999"}, []string{`max in flight "99999999999999999999"`, "leave it empty"}},
			{upgrade.Rolling{MaxInFlight: "two"}, []string{`max in flight "two"`, "give a count from 1"}},
			{upgrade.Rolling{MaxInFlight: "2.5"}, []string{`max in flight "2.5"`}},
		} {
			rolled, err := p.Roll(tc.r)
			require.ErrorIs(t, err, upgrade.ErrInvalidRolling, "%+v on %d steps", tc.r, len(p.Steps))
			assert.Nil(t, rolled)
			for _, w := range tc.want {
				assert.ErrorContains(t, err, w)
			}
		}
	}
}

// TestHunt9RollTwiceRefused: a plan rolled one instance at a time has no
// barrier; rolling it again is refused as a plan rolled with barriers is,
// rather than mixing both strategies into one the caller never asked for.
func TestHunt9RollTwiceRefused(t *testing.T) {
	once, err := hunt9Shop(t, 4).Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "1"})
	require.NoError(t, err)
	require.Empty(t, once.Barriers)
	for _, r := range []upgrade.Rolling{{Canaries: 1, MaxInFlight: "1"}, {MaxInFlight: "2"}} {
		again, err := once.Roll(r)
		require.ErrorIs(t, err, upgrade.ErrInvalidRolling, "%+v", r)
		assert.Nil(t, again)
		assert.ErrorContains(t, err, "the instances of shop_app in shop are rolled already (app/shop-2@2.0.0 comes after app/shop-1@2.0.0)")
		assert.ErrorContains(t, err, "roll the plan the planner made")
	}
}

// hunt9CrossWired plans, as a Juju user upgrading two charms at once, the
// Tomcats of shop to 9.0.98 (which needs Java >=11) and the shop
// instances to 2.0 (which needs those Tomcats): shop-N runs on
// tomcat-tomcatOf[N-1], and tomcat-N on java-javaOf[N-1].
func hunt9CrossWired(t *testing.T, tomcatOf, javaOf []int) *upgrade.Plan {
	t.Helper()
	b := new(topology.Builder).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: v("1.4.0"),
			Requirements: []topology.Requirement{{Name: "host", Template: "tomcat_server", Constraint: c(">=8.5")}}}).
		Template("shop", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: v("8.5.100"),
			Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c(">=8")}}}).
		Template("shop", topology.Template{ID: "java_runtime", Type: "jdk", Version: v("8.0.402")})
	id := func(p string, i int) topology.NodeID { return topology.NodeID(fmt.Sprintf("%s-%d", p, i)) }
	javas := map[int]bool{}
	for i := range tomcatOf {
		if j := javaOf[i]; !javas[j] {
			javas[j] = true
			b.Node("shop", topology.Node{ID: id("java", j), Template: "java_runtime"})
		}
		b.Node("shop", topology.Node{ID: id("tomcat", i+1), Template: "tomcat_server", Relationships: on(id("java", javaOf[i]))}).
			Node("shop", topology.Node{ID: id("shop", i+1), Template: "shop_app", Relationships: on(id("tomcat", tomcatOf[i]))})
	}
	tomcat := upgrade.Request{Application: "shop", Replaces: "tomcat_server", Template: topology.Template{
		ID: "tomcat_server", Type: "tomcat", Version: v("9.0.98"),
		Requirements: []topology.Requirement{{Template: "java_runtime", Constraint: c(">=11")}}}}
	plan, err := upgrade.NewPlanner(build(t, b), catalogue(t)).PlanAll(t.Context(), tomcat, shop2("tomcat_server", ">=9.0"))
	require.NoError(t, err)
	return plan
}

// TestHunt9RollCrossWiredRequests: one at a time, the shop canary
// (shop-1, on tomcat-3) comes after the last Tomcat, which comes after
// tomcat-2, which needs java-2. Held for both canaries, as a step only
// later waves of several pairs need directly, java-2 was in a cycle, and
// Roll refused a plan the planner made. It runs first, as the shop
// canary needs it.
func TestHunt9RollCrossWiredRequests(t *testing.T) {
	rolled, err := hunt9CrossWired(t, []int{3, 2, 1}, []int{1, 2, 3}).Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "1"})
	require.NoError(t, err)
	requireTopological(t, rolled)
	assertHunt9Prerequisites(t, rolled, map[upgrade.StepID][]upgrade.StepID{
		"platform/java-1@21.0.2": nil,
		"platform/java-2@21.0.2": nil,
		"platform/java-3@21.0.2": nil,
		"app/tomcat-1@9.0.98":    {"platform/java-1@21.0.2"},
		"app/tomcat-2@9.0.98":    {"app/tomcat-1@9.0.98", "platform/java-2@21.0.2"},
		"app/tomcat-3@9.0.98":    {"app/tomcat-2@9.0.98", "platform/java-3@21.0.2"},
		"app/shop-1@2.0.0":       {"app/tomcat-3@9.0.98"},
		"app/shop-2@2.0.0":       {"app/shop-1@2.0.0", "app/tomcat-2@9.0.98"},
		"app/shop-3@2.0.0":       {"app/shop-2@2.0.0", "app/tomcat-1@9.0.98"},
	})
	assert.Len(t, rolled.Steps, 9)

	exec := new(upgradetest.Executor)
	_, err = upgrade.Run(t.Context(), rolled, exec, upgrade.WithConcurrency(4))
	require.NoError(t, err)
	assert.Len(t, exec.Started(), 9)
}

// TestHunt9RollAnyWiring: however the four shop instances are spread over
// the Tomcats, and the Tomcats over two JDKs, the plan rolls, in order,
// with every step once, and runs, under every strategy.
func TestHunt9RollAnyWiring(t *testing.T) {
	var wirings [][]int
	var permute func(p, rest []int)
	permute = func(p, rest []int) {
		if len(rest) == 0 {
			wirings = append(wirings, p)
		}
		for i, r := range rest {
			permute(append(slices.Clip(p), r), append(slices.Clone(rest[:i]), rest[i+1:]...))
		}
	}
	permute(nil, []int{1, 2, 3, 4})
	require.Len(t, wirings, 24)
	for _, tomcatOf := range wirings {
		plan := hunt9CrossWired(t, tomcatOf, []int{1, 2, 1, 2})
		for _, r := range []upgrade.Rolling{{Canaries: 1, MaxInFlight: "1"}, {MaxInFlight: "1"},
			{Canaries: 1, MaxInFlight: "2"}, {Canaries: 2, MaxInFlight: "50%"}, {Canaries: 1}} {
			rolled, err := plan.Roll(r)
			require.NoError(t, err, "shops on %v, %+v", tomcatOf, r)
			requireTopological(t, rolled)
			assert.ElementsMatch(t, ids(plan), ids(rolled))
			exec := new(upgradetest.Executor)
			_, err = upgrade.Run(t.Context(), rolled, exec, upgrade.WithConcurrency(3))
			require.NoError(t, err)
			assert.ElementsMatch(t, ids(plan), exec.Started())
		}
	}
}

// A plan rolled already, whose IDs a hand or an attacker wrote, is refused
// with its IDs quoted and shortened, as the runner's errors quote them:
// an escape sequence or a megabyte of ID reaches no terminal or log raw.
func TestHunt9RollRefusalQuotesHostileIDs(t *testing.T) {
	hostile := "app\x1b[31m" + strings.Repeat("x", 5000)
	plan := &upgrade.Plan{Steps: []upgrade.Step{
		{ID: upgrade.StepID("app/" + hostile + "-1@2"), Kind: upgrade.Application, App: topology.AppID(hostile), Node: "n-1", Template: "t"},
		{ID: upgrade.StepID("app/" + hostile + "-2@2"), Kind: upgrade.Application, App: topology.AppID(hostile), Node: "n-2", Template: "t",
			After: []upgrade.StepID{upgrade.StepID("app/" + hostile + "-1@2")}},
	}}
	_, err := plan.Roll(upgrade.Rolling{Canaries: 1})
	require.ErrorIs(t, err, upgrade.ErrInvalidRolling)
	assert.NotContains(t, err.Error(), "\x1b")
	assert.Less(t, len(err.Error()), 1000, "IDs shortened")
	assert.Contains(t, err.Error(), "rolled already")
}

// TestRollInvalidPlan: Roll refuses a plan that is not one (a cycle, an
// After naming no step, two steps of one ID) as Run would, with
// ErrInvalidPlan and the step at fault, whatever the barriers it adds.
func TestRollInvalidPlan(t *testing.T) {
	inst := func(id, node string, after ...upgrade.StepID) upgrade.Step {
		return upgrade.Step{ID: upgrade.StepID(id), Kind: upgrade.Application, App: "a", Template: "t", Node: topology.NodeID(node), After: after}
	}
	for _, tc := range []struct {
		steps []upgrade.Step
		want  string
	}{
		{[]upgrade.Step{{ID: "p1", Kind: upgrade.Platform, Node: "v1", After: []upgrade.StepID{"p2"}}, {ID: "p2", Kind: upgrade.Platform, Node: "v2", After: []upgrade.StepID{"p1"}},
			inst("a1", "x1", "p1"), inst("a2", "x2", "p2")}, "steps form a cycle: p1 → p2 → p1"},
		{[]upgrade.Step{inst("a1", "x1", "nope"), inst("a2", "x2")}, "step a1 comes after unknown step nope"},
		{[]upgrade.Step{inst("a1", "x1"), inst("a1", "x2")}, "duplicate step ID a1"},
	} {
		_, err := (&upgrade.Plan{ID: "p", Steps: tc.steps}).Roll(upgrade.Rolling{Canaries: 1, MaxInFlight: "1"})
		require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
		assert.Contains(t, err.Error(), tc.want)
	}
}
