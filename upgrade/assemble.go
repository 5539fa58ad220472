package upgrade

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade/internal/dag"
	"github.com/stackup/stackup/version"
)

// assemble turns the decisions into the plan: the steps of every platform
// node, the satisfied checks, an application step per replaced node, the
// edges between them and the warnings, in a deterministic order.
func (pl *planning) assemble(plan *Plan) error {
	var platforms []*platform
	n := len(pl.replaced)
	for _, level := range pl.byHeight {
		platforms = append(platforms, level...)
		for _, pf := range level {
			n += len(pf.path)
		}
	}
	slices.SortFunc(platforms, func(a, b *platform) int { return cmp.Compare(a.node.ID, b.node.ID) })
	slices.SortFunc(pl.replaced, func(a, b *replacement) int { return cmp.Compare(a.node.ID, b.node.ID) })
	plan.Steps = make([]Step, 0, n)
	for _, pf := range platforms {
		id := pf.node.ID
		if len(pf.path) == 0 {
			for _, d := range pf.demands {
				plan.Satisfied = append(plan.Satisfied, Check{Node: id, Template: pf.node.Template, Version: pf.node.Version, Demand: d})
			}
			continue
		}
		plan.Steps = pl.appendPlatformSteps(plan.Steps, pf)
	}
	// A platform node's first step comes after the last steps of the
	// platform nodes beneath it.
	for i := range plan.Steps {
		s := &plan.Steps[i]
		if len(s.After) > 0 {
			continue // not a node's first step
		}
		after, err := pl.lastStepsBeneath(s.Node)
		if err != nil {
			return err
		}
		s.After = after
	}
	for _, rep := range pl.replaced {
		id := rep.node.ID
		r := &plan.Requests[rep.request]
		to := r.Template.Version.String()
		// The steps of one request share its template: treat it as
		// read-only.
		s := Step{ID: StepID(pl.text.join("app/", string(id), "@", to)), Kind: Application,
			App: r.Application, Node: id, Template: rep.node.Template, Type: rep.template.Type,
			From: rep.node.Version, To: r.Template.Version, NewTemplate: &r.Template, Request: rep.request,
			Reason: pl.text.join(string(r.Template.ID), "@", to, " replaces ", string(rep.template.ID), " ", rep.node.Version.String())}
		var err error
		if s.After, err = pl.lastStepsBeneath(id); err != nil {
			return err
		}
		plan.Steps = append(plan.Steps, s)
		if len(rep.template.Requirements) == 0 {
			continue // no old requirement to break
		}
		// Every platform node with steps beneath, however deep.
		if _, err := pl.beneath(id, func(n *nodeInfo) bool {
			if n.stepped() {
				plan.Warnings = append(plan.Warnings, pl.oldRequirementWarnings(rep, n.platform)...)
			}
			return false
		}); err != nil {
			return err
		}
	}
	return sortSteps(plan)
}

// stepped reports whether the plan has steps for n.
func (n *nodeInfo) stepped() bool { return n.platform != nil && len(n.platform.path) > 0 }

// appendPlatformSteps appends one step per package on pf's path, each after
// the one before.
func (pl *planning) appendPlatformSteps(steps []Step, pf *platform) []Step {
	// The reason names the unmet demands, the first few of them.
	const named = 3
	why, unmet := pl.text.buf[:0], 0
	for i := range pf.demands {
		d := &pf.demands[i]
		if pl.allows(d.Constraint, pf.node.Version) {
			continue
		}
		if unmet++; unmet > named {
			continue
		}
		if unmet > 1 {
			why = append(why, " and "...)
		}
		why = append(append(append(append(d.appendSource(why), " requires "...), pf.node.Template...), ' '), d.Constraint.String()...)
	}
	if unmet > named {
		why = append(strconv.AppendInt(append(why, " and "...), int64(unmet-named), 10), " more"...)
	}
	why = append(append(append(append(why, "; node "...), pf.node.ID...), " has "...), pf.node.Version.String()...)
	reason := pl.text.string(why)
	pl.text.buf = why[:0]

	ids := pl.stepIDs.take(len(pf.path))
	after := pl.stepIDs.take(len(pf.path) - 1)
	from := pf.node.Version
	for i := range pf.path {
		p := pf.path[i]
		ids[i] = StepID(pl.text.join("platform/", string(pf.node.ID), "@", p.Version.String()))
		s := Step{ID: ids[i], Kind: Platform, App: pf.node.App, Node: pf.node.ID, Template: pf.node.Template,
			Type: pf.template.Type, From: from, To: p.Version, Package: p, Reason: reason}
		if len(pf.path) > 1 {
			hop := strconv.AppendInt(append(pl.text.buf[:0], "hop "...), int64(i+1), 10)
			hop = strconv.AppendInt(append(hop, " of "...), int64(len(pf.path)), 10)
			hop = append(append(append(append(hop, " to "...), pf.path[len(pf.path)-1].Version.String()...), ": "...), reason...)
			s.Reason = pl.text.string(hop)
			pl.text.buf = hop[:0]
		}
		if i > 0 {
			s.After = after[i-1 : i : i]
			s.After[0] = ids[i-1]
		}
		steps = append(steps, s)
		from = p.Version
	}
	pf.lastStep = ids[len(ids)-1]
	final := &steps[len(steps)-1]
	final.Demands = slices.Clip(pf.demands) // the node's list is done with
	for _, d := range pf.binding {          // co-tenants', each once (see verdicts)
		final.Demands = append(final.Demands, *d)
	}
	final.Candidates = pf.candidates
	return steps
}

// lastStepsBeneath returns the last step of each platform node with steps
// that is reachable from id without passing another such node: the steps
// beneath those come before them already.
func (pl *planning) lastStepsBeneath(id topology.NodeID) ([]StepID, error) {
	found, err := pl.beneath(id, (*nodeInfo).stepped)
	after := pl.stepIDs.take(len(found))
	for i, n := range found {
		after[i] = n.platform.lastStep
	}
	return after, err
}

// oldRequirementWarnings warns when a version pf passes through breaks what
// the replaced node's old template asks of it: until the replaced node's
// own step runs, it runs on a platform its template does not allow.
func (pl *planning) oldRequirementWarnings(rep *replacement, pf *platform) []string {
	var warnings []string
	for _, req := range rep.template.Requirements {
		if req.Template != pf.node.Template {
			continue
		}
		for _, p := range pf.path {
			if !pl.allows(req.Constraint, p.Version) {
				warnings = append(warnings, fmt.Sprintf(
					"node %s (%s %s) requires %s %s; it runs on %s %s from step %s until its own step",
					rep.node.ID, rep.template.ID, rep.node.Version, req.Template, req.Constraint,
					pf.node.ID, p.Version, platformStepID(pf.node.ID, p.Version)))
				break
			}
		}
	}
	return warnings
}

func platformStepID(node topology.NodeID, to version.Version) StepID {
	return StepID("platform/" + string(node) + "@" + to.String())
}

// sortSteps sorts every After list and puts the steps in the deterministic
// topological order: among steps that are ready, platform before
// application, then by ID.
func sortSteps(plan *Plan) error {
	for i := range plan.Steps {
		if after := plan.Steps[i].After; len(after) > 1 {
			slices.Sort(after)
			plan.Steps[i].After = slices.Clip(slices.Compact(after))
		}
	}
	// Order a permutation rather than the steps themselves: steps are big.
	byKey := make([]int, len(plan.Steps))
	for i := range byKey {
		byKey[i] = i
	}
	slices.SortFunc(byKey, func(a, b int) int {
		sa, sb := &plan.Steps[a], &plan.Steps[b]
		return cmp.Or(cmp.Compare(sa.Kind, sb.Kind), cmp.Compare(sa.ID, sb.ID))
	})
	_, order, err := stepGraph(plan.Steps, byKey)
	if err != nil {
		return err
	}
	for i, j := range order {
		order[i] = byKey[j]
	}
	permute(plan.Steps, order)
	return nil
}

// permute rearranges steps so that steps[i] becomes what was steps[p[i]],
// following the cycles of p rather than copying the steps. It leaves p
// changed.
func permute(steps []Step, p []int) {
	for i := range p {
		if p[i] < 0 {
			continue // placed with an earlier cycle
		}
		first := steps[i]
		j := i
		for p[j] != i {
			steps[j] = steps[p[j]]
			j, p[j] = p[j], -1
		}
		steps[j] = first
		p[j] = -1
	}
}

// stepGraph returns the graph of the steps' After lists and a topological
// order of the steps, ties broken by their order in the slice, or an error
// matching ErrInvalidPlan.
func stepGraph(steps []Step, perm []int) (*dag.Graph, []int, error) {
	step := func(i int) *Step { return &steps[i] }
	if perm != nil {
		step = func(i int) *Step { return &steps[perm[i]] }
	}
	index := make(map[StepID]int32, len(steps))
	edges := 0
	for i := range steps {
		s := step(i)
		if _, dup := index[s.ID]; dup {
			return nil, nil, fmt.Errorf("upgrade: %w: duplicate step ID %s", ErrInvalidPlan, s.ID)
		}
		index[s.ID] = int32(i)
		edges += len(s.After)
	}
	start := make([]int32, len(steps)+1)
	deps := make([]int32, 0, edges)
	for i := range steps {
		s := step(i)
		for _, a := range s.After {
			j, ok := index[a]
			if !ok {
				return nil, nil, fmt.Errorf("upgrade: %w: step %s comes after unknown step %s", ErrInvalidPlan, s.ID, a)
			}
			deps = append(deps, j)
		}
		start[i+1] = int32(len(deps))
	}
	g := dag.New(start, deps)
	order, cycle := g.Order()
	if cycle != nil {
		ids := make([]string, len(cycle))
		for i, c := range cycle {
			ids[i] = string(step(c).ID)
		}
		return nil, nil, fmt.Errorf("upgrade: %w: steps form a cycle: %s", ErrInvalidPlan, strings.Join(ids, " → "))
	}
	return g, order, nil
}
