package upgrade

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade/internal/dag"
)

// Rolling is a rolling strategy for the application steps of a template
// with several instances: canaries first, then batches. [Plan.Roll]
// expresses it as After edges and barriers, so the runner needs to know
// nothing of it.
type Rolling struct {
	// Canaries is how many instances go first, alone; all must succeed
	// (and verify) before any other instance starts.
	Canaries int
	// MaxInFlight is the size of each later batch: a count ("2") or a
	// percentage of the instances ("25%"), rounded down but never below 1.
	// Empty means all the rest in one batch.
	MaxInFlight string
}

// ErrInvalidRolling reports a rolling strategy that cannot be applied.
var ErrInvalidRolling = fmt.Errorf("invalid rolling strategy")

// Roll returns a copy of p in which the application steps of each
// (application, template) pair are ordered by r: the first r.Canaries
// steps, by node ID, come before all the others, which go in batches of at
// most r.MaxInFlight, each batch after the whole batch before it. A
// platform step that only later instances of one pair need (none of the
// first wave: the canaries, or the first batch when there are none) comes
// after the wave before the first instance that needs it, so that a failed
// canary leaves the others' platform as it was; one that later instances
// of several pairs need, and no first wave, comes after the first wave of
// each of those pairs (two applications on one VM each have their canary
// before the other VMs change); one that a first wave needs keeps its
// place, also when it needs it only through the waves of another pair on
// whose instances its instances run. The copy has its own ID. Roll does
// not change p. It returns an error matching [ErrInvalidRolling] for a
// plan rolled already and, whatever the plan holds, for a strategy it
// cannot apply: fewer than 0 canaries, or a MaxInFlight that is neither a
// count from 1 nor a percentage from 1% to 100%.
//
// A batch of one step comes directly after the batch before it, or has
// the batch after it directly after it; between larger batches, Roll puts
// a [Barrier], with an ID such as "batch/shop/shop_app/2" (after the second
// batch), so that the plan grows in proportion to the number of steps
// however the batches are cut. Two pairs whose IDs joined with "/" read
// alike (application "a/b" with template "c", "a" with "b/c") have
// distinct barriers: the later pair's end in "+2", "+3", and so on, as
// does a barrier whose ID a step of the plan has.
func (p *Plan) Roll(r Rolling) (*Plan, error) {
	if r.Canaries < 0 {
		return nil, fmt.Errorf("upgrade: %w: %d canaries: give 0 or more (0: no canaries)", ErrInvalidRolling, r.Canaries)
	}
	// MaxInFlight is read before the plan: a plan with nothing to roll
	// would take a value that the next plan refuses.
	batchSize, err := maxInFlight(r.MaxInFlight)
	if err != nil {
		return nil, err
	}
	groups := rollGroups(p.Steps)
	out := *p
	out.Steps = slices.Clone(p.Steps)
	for i := range out.Steps {
		out.Steps[i].After = slices.Clone(out.Steps[i].After)
	}
	out.Barriers = slices.Clone(p.Barriers)
	existing := make(map[StepID]bool, len(p.Barriers))
	for _, b := range p.Barriers {
		existing[b.ID] = true
	}
	need := make([]rollNeed, len(p.Steps))       // the application steps that need each step, by index (barriers after the steps)
	var befores [][][]StepID                     // by group and wave, what the wave comes after
	taken := make(map[StepID]bool, len(p.Steps)) // the IDs of the steps, and of the barriers Roll puts
	for _, s := range p.Steps {
		taken[s.ID] = true
	}
	for k, key := range slices.Sorted(maps.Keys(groups)) {
		g := groups[key]
		steps := g.steps
		slices.SortFunc(steps, func(a, b int) int { return cmp.Compare(out.Steps[a].Node, out.Steps[b].Node) })
		if err := out.rolledAlready(g); err != nil {
			return nil, err
		}
		waves := rollWaves(steps, r.Canaries, batchSize(len(steps)))
		for w, wave := range waves {
			for _, i := range wave {
				need[i] = rollNeed{group: int32(k + 1), wave: int32(w)}
			}
		}
		before, err := out.chainWaves(g, waves, existing, taken)
		if err != nil {
			return nil, err
		}
		befores = append(befores, before)
	}
	// What needs a step is read with the waves chained: an instance of
	// one pair may run on an instance of another (a shop on a Tomcat that
	// another request replaces), so a canary may come, through the other
	// pair's waves, after a platform step that only later waves need
	// directly. Held for that canary, the step would be in a cycle.
	graph, order, err := stepGraph(&out)
	if err != nil {
		return nil, err
	}
	need = append(need, make([]rollNeed, graph.Len()-len(need))...)
	out.holdPlatform(graph, order, need, befores)
	if err := sortSteps(&out); err != nil {
		return nil, err
	}
	out.ID = planID(&out)
	return &out, nil
}

// rollGroup is the application steps of one (application, template) pair,
// by index in the plan's steps.
type rollGroup struct {
	app      topology.AppID
	template topology.TemplateID
	steps    []int
}

// rollGroups returns the application steps grouped by application and
// template, keyed by both.
func rollGroups(steps []Step) map[string]*rollGroup {
	groups := map[string]*rollGroup{}
	for i, s := range steps {
		if s.Kind == Application {
			key := string(s.App) + "\x00" + string(s.Template)
			if groups[key] == nil {
				groups[key] = &rollGroup{app: s.App, template: s.Template}
			}
			groups[key].steps = append(groups[key].steps, i)
		}
	}
	return groups
}

// holdPlatform puts each platform step that only later waves of one
// group need after the wave before the first of them (see held). need
// holds, on entry, the group and wave of each application step, by index
// in graph, whose order is order; befores what each wave comes after.
func (p *Plan) holdPlatform(graph *dag.Graph, order []int, need []rollNeed, befores [][][]StepID) {
	// What needs a step: the steps after it, met first walking the
	// order backwards.
	for k := len(order) - 1; k >= 0; k-- {
		for _, d := range graph.Deps(order[k]) {
			need[d] = need[d].with(need[order[k]])
		}
	}
	for i := range p.Steps {
		if p.Steps[i].Kind != Platform || !p.held(graph, need, i) {
			continue
		}
		switch n := need[i]; {
		case n.group > 0:
			p.Steps[i].After = append(p.Steps[i].After, befores[n.group-1][n.wave]...)
		default: // several groups: after the first wave of each
			for _, g := range n.groups {
				p.Steps[i].After = append(p.Steps[i].After, befores[g-1][1]...)
			}
		}
	}
}

// held reports whether platform step i waits for waves of the groups that
// need it (see holdPlatform): when no first wave needs it, and no
// platform step it comes after, needed alike, waits for them already.
func (p *Plan) held(graph *dag.Graph, need []rollNeed, i int) bool {
	n := need[i]
	if n.group == 0 || n.wave == 0 {
		return false
	}
	for _, d := range graph.Deps(i) {
		if int(d) < len(p.Steps) && p.Steps[d].Kind == Platform && need[d].same(n) {
			return false
		}
	}
	return true
}

// rollNeed says which application steps need a step, themselves or
// through steps after them: none (group 0); those of the group-th (from 1)
// group, of wave wave and later; or those of several groups (group -1),
// of wave wave and later, which when wave is not 0 (no first wave needs
// it) are those of groups, sorted.
type rollNeed struct {
	group, wave int32
	groups      []int32
}

// with returns what needs a step that n and m need.
func (n rollNeed) with(m rollNeed) rollNeed {
	switch {
	case m.group == 0:
		return n
	case n.group == 0:
		return m
	case n.group == m.group && n.group > 0:
		return rollNeed{group: n.group, wave: min(n.wave, m.wave)}
	}
	out := rollNeed{group: -1, wave: min(n.wave, m.wave)}
	if out.wave > 0 { // a first wave needing it, it is not held: no need to know the groups
		out.groups = n.groupList()
		for _, g := range m.groupList() {
			if i, found := slices.BinarySearch(out.groups, g); !found {
				out.groups = slices.Insert(slices.Clip(out.groups), i, g)
			}
		}
	}
	return out
}

// groupList returns the groups that need a step, sorted.
func (n rollNeed) groupList() []int32 {
	if n.group > 0 {
		return []int32{n.group}
	}
	return n.groups
}

// same reports whether n and m are the same need.
func (n rollNeed) same(m rollNeed) bool {
	return n.group == m.group && n.wave == m.wave && slices.Equal(n.groups, m.groups)
}

// rolledAlready refuses g when one of its steps comes directly after
// another: the planner never orders the instances of one (application,
// template) pair, so that is a plan rolled already, in waves of one step,
// which have no barrier for chainWaves to find. Rolled again, it would
// hold the edges of both strategies, one the caller did not ask for.
func (p *Plan) rolledAlready(g *rollGroup) error {
	ids := make(map[StepID]bool, len(g.steps))
	for _, i := range g.steps {
		ids[p.Steps[i].ID] = true
	}
	for _, i := range g.steps {
		for _, a := range p.Steps[i].After {
			if ids[a] {
				return fmt.Errorf("upgrade: %w: the instances of %s in %s are rolled already (%s comes after %s): roll the plan the planner made",
					ErrInvalidRolling, textID(g.template), textID(g.app), textID(p.Steps[i].ID), textID(a))
			}
		}
	}
	return nil
}

// rollWaves cuts steps into the canaries, alone, then batches of batch.
func rollWaves(steps []int, canaries, batch int) [][]int {
	var waves [][]int
	canaries = min(canaries, len(steps))
	if canaries > 0 {
		waves = append(waves, steps[:canaries])
	}
	for rest := steps[canaries:]; len(rest) > 0; {
		n := min(batch, len(rest))
		waves = append(waves, rest[:n])
		rest = rest[n:]
	}
	return waves
}

// chainWaves puts each of g's waves after the wave before it, through a
// barrier between waves of more than one step, and returns what each wave
// comes after (nothing for the first); it refuses a barrier ID already in
// existing, which means the plan is rolled already, passes over those in
// taken, the IDs of steps and of the barriers it made, and adds those it
// makes to taken.
func (p *Plan) chainWaves(g *rollGroup, waves [][]int, existing, taken map[StepID]bool) ([][]StepID, error) {
	befores := make([][]StepID, len(waves))
	for w := 1; w < len(waves); w++ {
		before := make([]StepID, len(waves[w-1]))
		for k, j := range waves[w-1] {
			before[k] = p.Steps[j].ID
		}
		if len(before) > 1 && len(waves[w]) > 1 {
			id := StepID(fmt.Sprintf("batch/%s/%s/%d", g.app, g.template, w))
			if existing[id] {
				return nil, fmt.Errorf("upgrade: %w: the instances of %s in %s are rolled already (barrier %s): roll the plan the planner made",
					ErrInvalidRolling, textID(g.template), textID(g.app), textID(id))
			}
			// IDs may hold "/": application "a/b" with template "c" and
			// application "a" with template "b/c" would share barriers.
			// The later group's get "+2", "+3", …: an ID made the plain
			// way ends in digits after its last "/", so it is never one
			// of these. So does a barrier whose ID a step of a plan made
			// by hand has, as barriers share the namespace of steps.
			for n := 2; taken[id] || existing[id]; n++ {
				id = StepID(fmt.Sprintf("batch/%s/%s/%d+%d", g.app, g.template, w, n))
			}
			taken[id] = true
			p.Barriers = append(p.Barriers, Barrier{ID: id, After: before,
				Reason: fmt.Sprintf("waits for batch %d of %d of %s in %s", w, len(waves), g.template, g.app)})
			before = []StepID{id}
		}
		for _, i := range waves[w] {
			p.Steps[i].After = append(p.Steps[i].After, before...)
		}
		befores[w] = before
	}
	return befores, nil
}

// maxInFlight parses MaxInFlight s, and returns the size of the batches
// of a group of n steps that it gives.
func maxInFlight(s string) (batchSize func(n int) int, err error) {
	if s == "" {
		return func(n int) int { return max(n, 1) }, nil
	}
	num, percent := strings.CutSuffix(s, "%")
	v, err := strconv.Atoi(num)
	if err != nil || v < 1 || percent && v > 100 {
		// Say what to give rather than what s is not: a count too large
		// for an int is a count from 1 all the same.
		return nil, fmt.Errorf("upgrade: %w: max in flight %s: give a count from 1 to %d, a percentage from 1%% to 100%%, "+
			"or leave it empty for all the instances after the canaries at once", ErrInvalidRolling, topology.Quote(s), math.MaxInt)
	}
	if percent {
		return func(n int) int { return max(n*v/100, 1) }, nil
	}
	return func(int) int { return v }, nil
}
