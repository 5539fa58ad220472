package upgrade

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade/internal/dag"
	"github.com/stackup/stackup/version"
)

// assemble turns the decisions into the plan: the steps of every platform
// node, the satisfied checks, an application step per replaced node, the
// edges between them and the warnings, in a deterministic order.
func (pl *planning) assemble(plan *Plan) error {
	for _, id := range sortedKeys(pl.platforms) {
		pf := pl.platforms[id]
		if len(pf.path) == 0 {
			for _, d := range pf.demands {
				plan.Satisfied = append(plan.Satisfied, Check{Node: id, Template: pf.node.Template, Version: pf.node.Version, Demand: d})
			}
			continue
		}
		plan.Steps = append(plan.Steps, pl.platformSteps(pf)...)
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
	plan.Steps = slices.Grow(plan.Steps, len(pl.replaced))
	for _, id := range sortedKeys(pl.replaced) {
		rep := pl.replaced[id]
		r := &plan.Requests[rep.request]
		// The steps of one request share its template: treat it as
		// read-only.
		s := Step{ID: StepID("app/" + string(id) + "@" + r.Template.Version.String()), Kind: Application,
			App: r.Application, Node: id, Template: rep.node.Template, Type: rep.template.Type,
			From: rep.node.Version, To: r.Template.Version, NewTemplate: &r.Template, Request: rep.request,
			Reason: string(r.Template.ID) + "@" + r.Template.Version.String() + " replaces " +
				string(rep.template.ID) + " " + rep.node.Version.String()}
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

// platformSteps returns one step per package on pf's path, each after the
// one before.
func (pl *planning) platformSteps(pf *platform) []Step {
	// The reason names the unmet demands, the first few of them.
	const named = 3
	var unmet []string
	more := 0
	for _, d := range pf.demands {
		if pl.allows(d.Constraint, pf.node.Version) {
			continue
		}
		if len(unmet) == named {
			more++
			continue
		}
		unmet = append(unmet, d.Source()+" requires "+string(pf.node.Template)+" "+d.Constraint.String())
	}
	if more > 0 {
		unmet = append(unmet, fmt.Sprintf("%d more", more))
	}
	why := strings.Join(unmet, " and ") + "; node " + string(pf.node.ID) + " has " + pf.node.Version.String()
	steps := make([]Step, len(pf.path))
	from := pf.node.Version
	for i := range pf.path {
		p := &pf.path[i]
		s := Step{ID: platformStepID(pf.node.ID, p.Version), Kind: Platform,
			App: pf.node.App, Node: pf.node.ID, Template: pf.node.Template, Type: pf.template.Type,
			From: from, To: p.Version, Package: p, Reason: why}
		if len(pf.path) > 1 {
			s.Reason = fmt.Sprintf("hop %d of %d to %s: %s", i+1, len(pf.path), pf.path[len(pf.path)-1].Version, why)
		}
		if i > 0 {
			s.After = []StepID{steps[i-1].ID}
		}
		steps[i] = s
		from = p.Version
	}
	final := &steps[len(steps)-1]
	final.Demands = slices.Clone(pf.demands)
	for _, d := range pf.binding { // co-tenants', each once (see verdicts)
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
	after := make([]StepID, len(found))
	for i, n := range found {
		path := n.platform.path
		after[i] = platformStepID(n.node.ID, path[len(path)-1].Version)
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
		if len(plan.Steps[i].After) > 1 {
			plan.Steps[i].After = slices.Compact(slices.Sorted(slices.Values(plan.Steps[i].After)))
		}
	}
	// Sort a permutation rather than the steps themselves: steps are big.
	perm := make([]int, len(plan.Steps))
	for i := range perm {
		perm[i] = i
	}
	slices.SortFunc(perm, func(a, b int) int {
		sa, sb := &plan.Steps[a], &plan.Steps[b]
		return cmp.Or(cmp.Compare(sa.Kind, sb.Kind), cmp.Compare(sa.ID, sb.ID))
	})
	byKey := make([]Step, len(perm))
	for i, j := range perm {
		byKey[i] = plan.Steps[j]
	}
	_, order, err := stepGraph(byKey)
	if err != nil {
		return err
	}
	for i, j := range order {
		plan.Steps[i] = byKey[j]
	}
	return nil
}

// stepGraph returns the graph of the steps' After lists and a topological
// order of the steps, ties broken by their order in the slice, or an error
// matching ErrInvalidPlan.
func stepGraph(steps []Step) (*dag.Graph, []int, error) {
	index := make(map[StepID]int32, len(steps))
	for i, s := range steps {
		if _, dup := index[s.ID]; dup {
			return nil, nil, fmt.Errorf("upgrade: %w: duplicate step ID %s", ErrInvalidPlan, s.ID)
		}
		index[s.ID] = int32(i)
	}
	start := make([]int32, len(steps)+1)
	var deps []int32
	for i, s := range steps {
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
			ids[i] = string(steps[c].ID)
		}
		return nil, nil, fmt.Errorf("upgrade: %w: steps form a cycle: %s", ErrInvalidPlan, strings.Join(ids, " → "))
	}
	return g, order, nil
}
