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
// node, the satisfied checks, an application step per replaced node and the
// warnings, and returns the edges between the steps, for orderSteps to put
// them in a deterministic order.
func (pl *planning) assemble(plan *Plan) (stepEdges, error) {
	platformSteps, checks, decided := 0, 0, 0
	for _, level := range pl.byHeight {
		for _, pf := range level {
			if len(pf.path) == 0 {
				checks += len(pf.demands)
				continue
			}
			platformSteps += len(pf.path)
			decided++
		}
	}
	n := platformSteps + len(pl.replaced)
	plan.Steps = make([]Step, 0, n)
	if checks > 0 {
		plan.Satisfied = make([]Check, 0, checks)
	}
	// The application steps come after the platform steps, in the order
	// of the replaced nodes. A replaced node that something is demanded of
	// has its application step as its steps: what runs on it waits for it.
	appIDs := appStepIDs{text: pl.stepIDs.String()}
	ahead, k := appIDs, 0
	for i := range pl.replaced {
		if rep := &pl.replaced[i]; !rep.current {
			id := ahead.next(rep)
			if pf := rep.platform; pf != nil {
				pf.steps, pf.lastIndex = []StepID{id}, platformSteps+k
			}
			k++
		}
	}
	// What each step comes after, by index, as the rows of a dag.Graph.
	g := stepEdges{start: make([]int32, 1, n+1)}
	if err := pl.platformSteps(plan, &g, make([]StepID, platformSteps)); err != nil {
		return g, err
	}
	if err := pl.upgradedWarnings(plan); err != nil {
		return g, err
	}
	if err := pl.applicationSteps(plan, &g, &appIDs); err != nil {
		return g, err
	}
	slices.SortStableFunc(plan.Satisfied, func(a, b Check) int { return cmp.Compare(a.Node, b.Node) })
	plan.Decisions = pl.decisions(decided)
	return g, nil
}

// decisions returns the decision of every platform node with steps, of
// which there are n, sorted by node.
func (pl *planning) decisions(n int) []Decision {
	out := make([]Decision, 0, n)
	for _, level := range pl.byHeight {
		for _, pf := range level {
			if len(pf.path) == 0 {
				continue
			}
			d := Decision{Node: pf.node.ID, Demands: slices.Clip(pf.demands), Candidates: pf.candidates} // the node's list is done with
			for _, c := range pf.binding {                                                               // co-tenants', each once (see verdicts)
				d.Demands = append(d.Demands, *c)
			}
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Decision) int { return cmp.Compare(a.Node, b.Node) })
	return out
}

// platformSteps adds to the plan the steps, or the satisfied checks, of
// every platform node, and their rows to g. ids has room for the IDs of
// the steps, one list rather than one per node.
func (pl *planning) platformSteps(plan *Plan, g *stepEdges, ids []StepID) error {
	// Bottom up, so that the steps beneath a node are there before it.
	for _, level := range pl.byHeight {
		for _, pf := range level {
			if len(pf.path) == 0 {
				if len(pf.steps) > 0 {
					continue // a replaced node: its demands hold once its application step has run
				}
				for _, d := range pf.demands {
					plan.Satisfied = append(plan.Satisfied, Check{Node: pf.node.ID, Template: pf.node.Template, Version: pf.node.Version, Demand: d})
				}
				continue
			}
			// The node's first step comes after the last steps of the
			// platform nodes beneath it.
			after, err := pl.lastStepsBeneath(g, pf.nodeInfo)
			if err != nil {
				return err
			}
			n := len(pf.path)
			plan.Steps = pl.appendPlatformSteps(plan.Steps, g, pf, after, ids[:n:n])
			ids = ids[n:]
		}
	}
	return nil
}

// applicationSteps adds to the plan a step, or a satisfied check, for
// every replaced node, their rows to g, and the warnings.
func (pl *planning) applicationSteps(plan *Plan, g *stepEdges, appIDs *appStepIDs) error {
	type warnings struct {
		node  topology.NodeID
		texts []string
	}
	var warned []warnings
	breaks := map[breakKey]bool{}
	replaces := map[reasonKey]string{} // the reasons of application steps, which many share
	var lastKey reasonKey
	var reason string
	lastRequest := -1
	current := make([]*Demand, len(plan.Requests)) // what a request asks of its nodes on its version already, made once
	for i := range pl.replaced {
		rep := &pl.replaced[i]
		id := rep.node.ID
		r := &plan.Requests[rep.request]
		if rep.current {
			if current[rep.request] == nil {
				d := requestDemand(r) // parses a constraint
				current[rep.request] = &d
			}
			plan.Satisfied = append(plan.Satisfied, Check{Node: id, Template: rep.node.Template, Version: rep.node.Version, Demand: *current[rep.request]})
			continue
		}
		if rep.request != lastRequest {
			// The replaced nodes come request by request: a request's
			// keys do not come back once the next one's come.
			clear(replaces)
			lastRequest = rep.request
		}
		// The steps of one request share its template: treat it as
		// read-only.
		if k := (reasonKey{rep.request, rep.template.ID, rep.node.Version.String()}); k != lastKey { // runs are common
			var ok bool
			if reason, ok = replaces[k]; !ok {
				reason = string(r.Template.ID) + "@" + r.Template.Version.String() + " replaces " + string(rep.template.ID) + " " + k.from
				replaces[k] = reason
			}
			lastKey = k
		}
		s := Step{ID: appIDs.next(rep), Kind: Application,
			App: r.Application, Node: id, Template: rep.node.Template, Type: rep.template.Type,
			From: rep.node.Version, To: r.Template.Version, NewTemplate: &r.Template, Request: rep.request,
			Reason: reason}
		var err error
		if s.After, err = pl.lastStepsBeneath(g, rep.nodeInfo); err != nil {
			return err
		}
		plan.Steps = append(plan.Steps, s)
		texts, err := pl.oldRequirementWarnings(rep, breaks)
		if err != nil {
			return err
		}
		if r.Template.ID != rep.node.Template {
			w, err := pl.movedAwayWarning(rep, r, s.ID)
			if err != nil {
				return err
			}
			if w != "" {
				texts = append(texts, w)
			}
		}
		if len(texts) > 0 {
			slices.Sort(texts) // not in the order of the template's requirements, which may come in any
			warned = append(warned, warnings{id, texts})
		}
	}
	slices.SortFunc(warned, func(a, b warnings) int { return cmp.Compare(a.node, b.node) })
	for _, w := range warned {
		plan.Warnings = append(plan.Warnings, w.texts...)
	}
	return nil
}

// appStepIDs hands out the IDs of the application steps of the replaced
// nodes not current already, in order, cut from the one string that holds
// them all (see replacement.idEnd): a fleet has a step per node.
type appStepIDs struct {
	text string
	end  int // of the last ID handed out
}

// next returns the ID of rep's step, the next replaced node not current.
func (ids *appStepIDs) next(rep *replacement) StepID {
	start := ids.end
	ids.end = rep.idEnd
	return StepID(ids.text[start:ids.end])
}

// reasonKey says what an application step's reason depends on.
type reasonKey struct {
	request  int
	template topology.TemplateID
	from     string
}

// stepped reports whether the plan has steps for n, of which the platform
// nodes beneath it are assembled already: platform steps, or the
// application step of a replaced node that something is demanded of.
func (n *nodeInfo) stepped() bool { return n.platform != nil && len(n.platform.steps) > 0 }

// appendPlatformSteps appends one step per package on pf's path, the first
// after the steps listed in after, each other after the one before, and
// their rows to g. Their IDs go in ids, one per package.
func (pl *planning) appendPlatformSteps(steps []Step, g *stepEdges, pf *platform, after, ids []StepID) []Step {
	// The reason names the unmet demands, the first few of them.
	const named = 3
	// The node's texts, the reason and its steps' IDs and reasons, are
	// made in one string: a plan of thousands of steps would otherwise make
	// thousands of small ones. ends holds where each ends, in that order.
	// Each hop's reason repeats the node's: a few hops take a kilobyte.
	var buf [4096]byte
	text := buf[:0]
	var endsBuf [16]int
	ends := endsBuf[:0]
	unmet := 0
	for i := range pf.demands {
		d := &pf.demands[i]
		if d.Constraint.Allows(pf.node.Version) {
			continue
		}
		if unmet++; unmet > named {
			continue
		}
		if unmet > 1 {
			text = append(text, " and "...)
		}
		text = append(append(append(append(d.appendSource(text), " requires "...), pf.node.Template...), ' '), d.Constraint.String()...)
	}
	if unmet > named {
		text = append(strconv.AppendInt(append(text, " and "...), int64(unmet-named), 10), " more"...)
	}
	text = append(append(append(append(text, "; node "...), pf.node.ID...), " has "...), pf.node.Version.String()...)
	reasonEnd := len(text)
	target := pf.path[len(pf.path)-1].Version.String()
	for i, p := range pf.path {
		text = append(append(append(append(text, "platform/"...), pf.node.ID...), '@'), p.Version.Canonical().String()...) // see StepID
		ends = append(ends, len(text))
		if len(pf.path) > 1 {
			text = strconv.AppendInt(append(text, "hop "...), int64(i+1), 10)
			text = strconv.AppendInt(append(text, " of "...), int64(len(pf.path)), 10)
			text = append(append(append(append(text, " to "...), target...), ": "...), text[:reasonEnd]...)
			ends = append(ends, len(text))
		}
	}
	all := string(text)
	reason := all[:reasonEnd]

	from := pf.node.Version
	start := reasonEnd
	for i, p := range pf.path {
		ids[i], start, ends = StepID(all[start:ends[0]]), ends[0], ends[1:]
		s := Step{ID: ids[i], Kind: Platform, App: pf.node.App, Node: pf.node.ID, Template: pf.node.Template,
			Type: pf.template.Type, From: from, To: p.Version, Package: p, Reason: reason}
		if len(pf.path) > 1 {
			s.Reason, start, ends = all[start:ends[0]], ends[0], ends[1:]
		}
		if i == 0 {
			s.After = after
		} else {
			s.After = ids[i-1 : i : i]
			g.add(len(steps) - 1)
			g.end()
		}
		steps = append(steps, s)
		from = p.Version
	}
	pf.steps, pf.lastIndex = ids, len(steps)-1
	return steps
}

// lastStepsBeneath returns the last step of each platform node with steps
// that is reachable from id without passing another such node, sorted: the
// steps beneath those come before them already. It adds their indices in
// the plan's steps to g as the row of the next step.
func (pl *planning) lastStepsBeneath(g *stepEdges, n *nodeInfo) ([]StepID, error) {
	found, err := pl.beneath(n, (*nodeInfo).stepped)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(found, func(a, b *nodeInfo) int { return cmp.Compare(a.platform.lastStep(), b.platform.lastStep()) })
	var after []StepID
	switch len(found) {
	case 0:
	case 1: // as most nodes have: the node's own list of IDs holds it
		ids := found[0].platform.steps
		after = ids[len(ids)-1:]
	default:
		after = make([]StepID, len(found))
	}
	for i, n := range found {
		after[i] = n.platform.lastStep() // the same in the node's list
		g.add(n.platform.lastIndex)
	}
	g.end()
	return after, nil
}

// upgradedWarnings adds to the plan's warnings those of the platform nodes
// it upgrades, sorted by node: like a replaced node, such a node is no
// co-tenant of the nodes beneath it (see exempt), and until its own steps
// run it may run on a platform its old template does not allow (see
// oldRequirementWarnings).
func (pl *planning) upgradedWarnings(plan *Plan) error {
	var upgraded []*platform
	for _, level := range pl.byHeight {
		for _, pf := range level {
			if len(pf.path) > 0 && len(pf.template.Requirements) > 0 {
				upgraded = append(upgraded, pf)
			}
		}
	}
	slices.SortFunc(upgraded, func(a, b *platform) int { return cmp.Compare(a.node.ID, b.node.ID) })
	breaks := map[breakKey]bool{}
	for _, pf := range upgraded {
		texts, err := pl.requirementWarnings(pf.nodeInfo, breaks)
		if err != nil {
			return err
		}
		slices.Sort(texts)
		plan.Warnings = append(plan.Warnings, texts...)
	}
	return nil
}

// oldRequirementWarnings warns when a version that a platform node beneath
// the replaced node passes through, or that a node beneath it which a
// request replaces is replaced with, breaks what the node's old template
// asks of it: until the replaced node's own step runs, it runs on a
// platform its template does not allow. The platform nodes are found as
// for a request's requirement: the first of the required template down
// each chain of relationships.
func (pl *planning) oldRequirementWarnings(rep *replacement, breaks map[breakKey]bool) ([]string, error) {
	return pl.requirementWarnings(rep.nodeInfo, breaks)
}

// movedAwayWarning warns of the co-tenants of rep's node (see cotenants),
// which the plan does not replace, when its step, of ID step, moves the
// node to request r's template of another ID: their templates require the
// node's present template, which no plan finds the node of once the step
// has run, nor holds the node to their constraints. Platform nodes that
// the plan upgrades are among them: their packages' requirements take
// the place of their templates' only for this plan. It returns "" when
// the node has none.
func (pl *planning) movedAwayWarning(rep *replacement, r *Request, step StepID) (string, error) {
	pf := &platform{nodeInfo: rep.nodeInfo, decided: true}
	if _, err := pl.cotenants(pf); err != nil {
		return "", err
	}
	all, err := pl.cotenantsBut(pf, pl.replacedHere)
	if err != nil || len(all) == 0 {
		return "", err
	}
	const named = 3
	var b strings.Builder
	fmt.Fprintf(&b, "node %s moves from template %s to %s at step %s, and ", rep.node.ID, rep.node.Template, r.Template.ID, step)
	templates := make([]string, 0, len(all))
	for i, d := range all {
		if i < named {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "node %s (%s) requires %s %s", d.Node, d.App, rep.node.Template, d.Constraint)
		}
		templates = append(templates, string(d.Template))
	}
	if len(all) > named {
		fmt.Fprintf(&b, " and %d more", len(all)-named)
	}
	slices.Sort(templates)
	what := "that requirement"
	if len(all) > 1 {
		what = "those requirements"
	}
	fmt.Fprintf(&b, " of it: once the step has run, no plan finds %s or holds the node to it; have %s require %s",
		what, strings.Join(slices.Compact(templates), ", "), r.Template.ID)
	return b.String(), nil
}

// requirementWarnings warns when a version that a platform node beneath
// node m passes through breaks what m's template asks of it, until m's own
// step: see oldRequirementWarnings.
func (pl *planning) requirementWarnings(m *nodeInfo, breaks map[breakKey]bool) ([]string, error) {
	var warnings []string
	for _, req := range m.template.Requirements {
		if !pl.mayBreak(req, breaks) {
			continue // no node of its template passes through a version it rules out
		}
		found, err := pl.runsOn(m, func(n *nodeInfo) bool { return n.node.Template == req.Template })
		if err != nil {
			return nil, err
		}
		for _, n := range found {
			if v, ok := pl.replacedTo(n); ok {
				if !req.Constraint.Allows(v) {
					warnings = append(warnings, fmt.Sprintf(
						"node %s (%s %s) requires %s %s; it runs on %s %s from step app/%s@%s until its own step",
						m.node.ID, m.template.ID, m.node.Version, req.Template, req.Constraint,
						n.node.ID, v, n.node.ID, v.Canonical()))
				}
				continue
			}
			if !n.stepped() {
				continue
			}
			for k, p := range n.platform.path {
				if !req.Constraint.Allows(p.Version) {
					warnings = append(warnings, fmt.Sprintf(
						"node %s (%s %s) requires %s %s; it runs on %s %s from step %s until its own step",
						m.node.ID, m.template.ID, m.node.Version, req.Template, req.Constraint,
						n.node.ID, p.Version, n.platform.steps[k]))
					break
				}
			}
		}
	}
	return warnings, nil
}

// replacedTo returns the version that the application step of node n
// takes it to, when a request replaces n and n does not have that version
// already.
func (pl *planning) replacedTo(n *nodeInfo) (version.Version, bool) {
	v, ok := pl.replacedWith(n)
	return v, ok && !n.node.Version.Same(v)
}

// mayBreak reports whether some platform node of req's template passes
// through a version that req's constraint rules out, or a request replaces
// req's template with such a version. Requirements that many replaced
// nodes share are looked into once: breaks holds the answers.
func (pl *planning) mayBreak(req topology.Requirement, known map[breakKey]bool) bool {
	key := breakKey{req.Template, req.Constraint.String()}
	breaks, ok := known[key]
	if !ok {
		for i := range pl.requests {
			r := &pl.requests[i]
			breaks = breaks || r.Replaces == req.Template && !req.Constraint.Allows(r.Template.Version)
		}
		for _, level := range pl.byHeight {
			for _, pf := range level {
				if pf.node.Template != req.Template {
					continue
				}
				for _, p := range pf.path {
					breaks = breaks || !req.Constraint.Allows(p.Version)
				}
			}
		}
		known[key] = breaks
	}
	return breaks
}

type breakKey struct {
	template   topology.TemplateID
	constraint string
}

// sortSteps sorts every After list and the barriers, and puts the steps in
// the deterministic topological order: among steps that are ready,
// platform before application, then by ID.
func sortSteps(plan *Plan) error {
	sortAfter := func(after []StepID) []StepID {
		if increasing(after) {
			return after // sorted, without repeats: steps may share it
		}
		after = slices.Clone(after)
		slices.Sort(after)
		return slices.Clip(slices.Compact(after))
	}
	for i := range plan.Steps {
		plan.Steps[i].After = sortAfter(plan.Steps[i].After)
	}
	for i := range plan.Barriers {
		plan.Barriers[i].After = sortAfter(plan.Barriers[i].After)
	}
	slices.SortFunc(plan.Barriers, func(a, b Barrier) int { return cmp.Compare(a.ID, b.ID) })
	g, err := edgesOf(plan.Steps, plan.Barriers)
	if err != nil {
		return err
	}
	return orderSteps(plan.Steps, plan.Barriers, g)
}

// increasing reports whether each ID is above the one before.
func increasing(ids []StepID) bool {
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			return false
		}
	}
	return true
}

// stepEdges lists, for each step, the indices of the steps it comes after,
// as the rows of a dag.Graph.
type stepEdges struct{ start, deps []int32 }

// add adds the step at index i to the row being made.
func (g *stepEdges) add(i int) { g.deps = append(g.deps, int32(i)) }

// end ends the row being made.
func (g *stepEdges) end() { g.start = append(g.start, int32(len(g.deps))) }

// row returns the row of step i.
func (g *stepEdges) row(i int) []int32 { return g.deps[g.start[i]:g.start[i+1]] }

// edgesOf returns the edges of the steps' and barriers' After lists: the
// steps are vertices 0 to len(steps)-1, the barriers the vertices after
// them. It returns an error matching ErrInvalidPlan for a duplicate ID, an
// After naming nothing, or a barrier waiting for nothing.
func edgesOf(steps []Step, barriers []Barrier) (stepEdges, error) {
	n := len(steps) + len(barriers)
	index := make(map[StepID]int32, n)
	edges := 0
	add := func(what string, i int, id StepID, after []StepID) error {
		if id == "" {
			return fmt.Errorf("upgrade: %w: %s #%d has no ID: give every step and barrier one", ErrInvalidPlan, what, i+1)
		}
		if _, dup := index[id]; dup {
			return fmt.Errorf("upgrade: %w: duplicate step ID %s: give each step and barrier an ID of its own", ErrInvalidPlan, textID(id))
		}
		index[id] = int32(len(index))
		edges += len(after)
		return nil
	}
	for i := range steps {
		if err := add("step", i, steps[i].ID, steps[i].After); err != nil {
			return stepEdges{}, err
		}
	}
	for i := range barriers {
		if len(barriers[i].After) == 0 {
			return stepEdges{}, fmt.Errorf("upgrade: %w: barrier %s waits for no step: list the steps it waits for in its After, or remove it", ErrInvalidPlan, textID(barriers[i].ID))
		}
		if err := add("barrier", i, barriers[i].ID, barriers[i].After); err != nil {
			return stepEdges{}, err
		}
	}
	g := stepEdges{start: make([]int32, 1, n+1), deps: make([]int32, 0, edges)}
	row := func(what string, id StepID, after []StepID) error {
		for _, a := range after {
			j, ok := index[a]
			if !ok {
				return fmt.Errorf("upgrade: %w: %s %s comes after unknown step %s: add step %[4]s to the plan or take it out of the After list",
					ErrInvalidPlan, what, textID(id), textID(a))
			}
			g.add(int(j))
		}
		g.end()
		return nil
	}
	for i := range steps {
		if err := row("step", steps[i].ID, steps[i].After); err != nil {
			return stepEdges{}, err
		}
	}
	for i := range barriers {
		if err := row("barrier", barriers[i].ID, barriers[i].After); err != nil {
			return stepEdges{}, err
		}
	}
	return g, nil
}

// orderSteps puts the steps, whose edges g holds with those of the
// barriers after them (see edgesOf), in the deterministic topological
// order: among steps that are ready, platform before application, then by
// ID. A barrier is passed as soon as it is ready. It returns an error
// matching ErrInvalidPlan if the steps form a cycle.
func orderSteps(steps []Step, barriers []Barrier, g stepEdges) error {
	// Rank the steps by kind and ID, sorting small keys rather than the
	// steps: they are big, and sorting keys side by side is kinder to the
	// caches. Barriers, of kind 0, rank first.
	type key struct {
		id    StepID
		kind  StepKind
		index int32
	}
	keys := make([]key, len(steps), len(steps)+len(barriers))
	for i := range steps {
		keys[i] = key{steps[i].ID, steps[i].Kind, int32(i)}
	}
	for i := range barriers {
		keys = append(keys, key{barriers[i].ID, 0, int32(len(steps) + i)})
	}
	// By kind, then by ID within each kind: fewer comparisons than both at
	// once.
	slices.SortFunc(keys, func(a, b key) int { return cmp.Compare(a.kind, b.kind) })
	for rest := keys; len(rest) > 0; {
		n := 1
		for n < len(rest) && rest[n].kind == rest[0].kind {
			n++
		}
		slices.SortFunc(rest[:n], func(a, b key) int { return strings.Compare(string(a.id), string(b.id)) })
		rest = rest[n:]
	}
	rank := make([]int32, len(keys))
	for r, k := range keys {
		rank[k.index] = int32(r)
	}
	// The graph over ranks: dag.Graph.Order breaks ties by vertex.
	ranked := stepEdges{start: make([]int32, 1, len(keys)+1), deps: make([]int32, 0, len(g.deps))}
	for _, k := range keys {
		for _, d := range g.row(int(k.index)) {
			ranked.add(int(rank[d]))
		}
		ranked.end()
	}
	order, cycle := dag.New(ranked.start, ranked.deps).Order()
	if cycle != nil {
		return cycleError(cycle, func(c int) StepID { return keys[c].id })
	}
	// Barriers are the vertices after the steps: a step may be of kind 0
	// too, in a plan made by hand.
	order = slices.DeleteFunc(order, func(r int) bool { return int(keys[r].index) >= len(steps) })
	for i, r := range order {
		order[i] = int(keys[r].index)
	}
	permute(steps, order)
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

// stepGraph returns the graph of the After lists of the plan's steps and
// barriers (see edgesOf) and a topological order of its vertices, ties
// broken by their numbering, or an error matching ErrInvalidPlan.
func stepGraph(p *Plan) (*dag.Graph, []int, error) {
	e, err := edgesOf(p.Steps, p.Barriers)
	if err != nil {
		return nil, nil, err
	}
	g := dag.New(e.start, e.deps)
	order, cycle := g.Order()
	if cycle != nil {
		return nil, nil, cycleError(cycle, func(c int) StepID {
			if c < len(p.Steps) {
				return p.Steps[c].ID
			}
			return p.Barriers[c-len(p.Steps)].ID
		})
	}
	return g, order, nil
}

// cycleError reports steps that form a cycle; id names the step of a
// vertex. IDs outside the safe set (a plan made by hand) are quoted, as
// in every error that names a step.
func cycleError(cycle []int, id func(int) StepID) error {
	ids := make([]string, len(cycle))
	for i, c := range cycle {
		ids[i] = textID(id(c))
	}
	return fmt.Errorf("upgrade: %w: steps form a cycle: %s: take one of them out of the After list of another", ErrInvalidPlan, strings.Join(ids, " → "))
}
