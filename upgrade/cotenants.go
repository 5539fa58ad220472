package upgrade

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// cotenants returns, for each constraint that the nodes running on or
// needing pf place on it (other than the nodes being replaced or upgraded:
// see exempt), one demand
// with that constraint, sorted by constraint. A version is allowed by every
// co-tenant if it is allowed by these: a node can have thousands of
// co-tenants and only a few distinct constraints. Which co-tenant each
// demand names is settled by nameCotenants, when it is to be shown.
//
// Co-tenants are found at any height: the nodes that have a relationship
// to pf (the topology's Dependents, with the constraint each states), and
// every node above those whose template has a requirement naming pf's
// template and whose walk down its relationships reaches pf without
// passing another node of that template: those a topology.AboveLister
// lists, or else those the planner finds walking Dependents up (see
// above). The walk is the planner's so that a host's Dependents stay
// direct, answered from one index; a topology that can answer faster,
// as Memory does from what it indexed when built, says so by being an
// AboveLister: walking up a 100,000-node fleet's Dependents from every
// platform node to be changed costs a call per node above each.
func (pl *planning) cotenants(pf *platform) ([]Demand, error) {
	al, listing := pl.topo.(topology.AboveLister)
	var deps []topology.Dependent
	var err error
	switch dl, byApp := pl.topo.(topology.DependentsLister); {
	case byApp && pf.node.App != "":
		deps, err = pl.appDependents(dl, pf.node)
	case listing: // no walk up will ask again
		deps, err = pl.topo.Dependents(pl.ctx, pf.node.ID)
	default:
		deps, err = pl.dependents(pf.node.ID)
	}
	if err != nil {
		return nil, err
	}
	pf.dependents = deps
	out, err := pl.direct(pf)
	if err != nil {
		return nil, err
	}
	// Those further up: one demand per constraint, the one that names
	// the least co-tenant, so that naming them needs no walk.
	if listing {
		out, err = pl.listedAbove(pf, al, out)
	} else {
		out, err = pl.walkedAbove(pf, out)
	}
	if err != nil {
		return nil, err
	}
	sortDemands(out)
	return out, nil
}

// direct returns one demand per constraint that pf's dependents state.
func (pl *planning) direct(pf *platform) ([]Demand, error) {
	var out []Demand
	last := 0                        // the group of the previous dependent: runs are common
	var replaced *topology.Dependent // the last replaced: runs are common too
	for i := range pf.dependents {
		d := &pf.dependents[i]
		if d.Constraint.IsZero() || last < len(out) && out[last].Constraint.String() == d.Constraint.String() ||
			replaced != nil && d.App == replaced.App && d.Template == replaced.Template {
			continue
		}
		if g := cotenantGroup(out, d.Constraint); g >= 0 {
			last = g
		} else if pl.replacesAll(d.App, d.Template) { // a constraint met before needs no such check
			replaced = d
		} else if !pl.exempt(d) {
			if err := checkDependent(pf, i); err != nil {
				return nil, err
			}
			last = len(out)
			out = append(out, Demand{Constraint: d.Constraint, App: d.App, Template: d.Template, Node: d.Node})
		}
	}
	return out, nil
}

// listedAbove adds to out the demands of the nodes that al lists above pf.
func (pl *planning) listedAbove(pf *platform, al topology.AboveLister, out []Demand) ([]Demand, error) {
	pf.aboveListed = true
	if len(pf.dependents) == 0 {
		// Nothing above reaches it: no need to ask, as for each of a
		// fleet's application nodes a request replaces.
		return out, nil
	}
	var err error
	if pf.above, err = pl.listAbove(al, pf.node.ID); err != nil {
		return nil, err
	}
	for i := range pf.above {
		d := &pf.above[i]
		if d.Constraint.IsZero() || pl.exempt(d) {
			continue
		}
		if err := checkIDs(d, fmt.Sprintf("node #%d above node %q", i+1, pf.node.ID)); err != nil {
			return nil, err
		}
		out = addCotenant(out, Demand{Constraint: d.Constraint, App: d.App, Template: d.Template, Node: d.Node})
	}
	return out, nil
}

// listAbove returns what al lists above node id, asking once per plan.
func (pl *planning) listAbove(al topology.AboveLister, id topology.NodeID) ([]topology.Dependent, error) {
	return pl.askOnce(&pl.up.listed, id, al.Above)
}

// askOnce returns what ask answers for node id, asking once per plan: memo
// keeps the answers.
func (pl *planning) askOnce(memo *map[topology.NodeID][]topology.Dependent, id topology.NodeID,
	ask func(context.Context, topology.NodeID) ([]topology.Dependent, error)) ([]topology.Dependent, error) {
	if deps, ok := (*memo)[id]; ok {
		return deps, nil
	}
	deps, err := ask(pl.ctx, id)
	if err != nil {
		return nil, err
	}
	if *memo == nil {
		*memo = map[topology.NodeID][]topology.Dependent{}
	}
	(*memo)[id] = deps
	return deps, nil
}

// aboveOf returns the nodes above node n, not among its dependents, whose
// template has a requirement naming n's template and whose walk down
// reaches n without passing another node of that template, once per such
// requirement with its constraint: what a topology.AboveLister lists, or
// else the same found walking the topology's Dependents up, once per plan.
// Exempt nodes are in it (see exempt): which are may change as the plan is
// decided, while the list does not. A look ahead at a node beneath the one
// being decided uses it (see settledCotenants), where the memo of above,
// which leaves out the nodes exempt when it was made, might hold nodes not
// decided yet.
func (pl *planning) aboveOf(n *nodeInfo) ([]topology.Dependent, error) {
	if al, ok := pl.topo.(topology.AboveLister); ok {
		return pl.listAbove(al, n.node.ID)
	}
	return pl.askOnce(&pl.up.listed, n.node.ID, func(context.Context, topology.NodeID) ([]topology.Dependent, error) {
		return pl.walkAbove(n.node.ID, n.node.Template)
	})
}

// walkAbove returns, for aboveOf, the nodes above node id, of template t,
// found walking the topology's Dependents up, not past a node of t.
func (pl *planning) walkAbove(id topology.NodeID, t topology.TemplateID) ([]topology.Dependent, error) {
	deps, err := pl.dependents(id)
	if err != nil {
		return nil, err
	}
	// listed is a node to walk up from, where a Dependents list had it,
	// for an error that it is gone.
	type listed struct {
		d  *topology.Dependent
		i  int
		of topology.NodeID
	}
	seen := map[topology.NodeID]bool{id: true}
	direct := make(map[topology.NodeID]bool, len(deps))
	var queue []listed
	for i := range deps {
		d := &deps[i]
		direct[d.Node] = true
		if d.Template == t || seen[d.Node] { // not past a node of t
			continue
		}
		if err := pl.checkWalked(d, i, id); err != nil {
			return nil, err
		}
		seen[d.Node] = true
		queue = append(queue, listed{d, i, id})
	}
	var out []topology.Dependent
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		if deps, err = pl.dependents(x.d.Node); err != nil {
			return nil, goneDependent(err, x.d, x.i, x.of)
		}
		for i := range deps {
			d := &deps[i]
			if seen[d.Node] {
				continue
			}
			if len(seen) >= maxAbove {
				return nil, topologyError(fmt.Sprintf("node %q", id), "more than %d nodes above it, by its Dependents", maxAbove)
			}
			if err := pl.checkWalked(d, i, x.d.Node); err != nil {
				return nil, err
			}
			seen[d.Node] = true
			if d.Template != t { // not past a node of t
				queue = append(queue, listed{d, i, x.d.Node})
			}
			if !direct[d.Node] {
				if out, err = pl.requiring(out, d, t, i, x.d.Node); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

// requiring appends to out, for each requirement of d's template on
// template t that has a constraint, d with that constraint.
// d is dependent i of node x, for an error.
func (pl *planning) requiring(out []topology.Dependent, d *topology.Dependent, t topology.TemplateID, i int, x topology.NodeID) ([]topology.Dependent, error) {
	tmpl, err := pl.aboveTemplate(d.Template)
	if err != nil {
		return nil, dependentError(fmt.Sprintf("dependent #%d of node %q", i+1, x), d, err)
	}
	for _, r := range tmpl.Requirements {
		if r.Template == t && !r.Constraint.IsZero() {
			out = append(out, topology.Dependent{App: d.App, Node: d.Node, Template: d.Template, Relation: r.Relation, Constraint: r.Constraint})
		}
	}
	return out, nil
}

// walkedAbove adds to out the demands of the nodes above pf's dependents,
// walking their Dependents up.
func (pl *planning) walkedAbove(pf *platform, out []Demand) ([]Demand, error) {
	deps, t := pf.dependents, pf.node.Template
	for i := range deps {
		d := &deps[i]
		if d.Template == t || i > 0 && deps[i-1].Node == d.Node { // not past a node of t; once per node
			continue
		}
		if err := pl.checkWalked(d, i, pf.node.ID); err != nil {
			return nil, err
		}
		above, err := pl.above(d.Node, t)
		if err != nil {
			return nil, goneDependent(err, d, i, pf.node.ID)
		}
		for _, a := range above {
			out = addCotenant(out, a)
		}
	}
	return out, nil
}

// addCotenant adds a to out, one demand per constraint: the one that names
// the least co-tenant.
func addCotenant(out []Demand, a Demand) []Demand {
	if g := cotenantGroup(out, a.Constraint); g < 0 {
		out = append(out, a)
	} else if compareDemands(a, out[g]) < 0 {
		out[g] = a
	}
	return out
}

// checkIDs refuses a co-tenant, named by item, whose identifiers lie
// outside the safe set.
func checkIDs(d *topology.Dependent, item string) error {
	if err := badID(d); err != nil {
		return topologyIDError(item, err)
	}
	return nil
}

// badID returns the error of d's first identifier outside the safe set, or
// nil.
func badID(d *topology.Dependent) error {
	return cmp.Or(topology.CheckID("application", string(d.App)), topology.CheckID("node", string(d.Node)),
		topology.CheckID("template", string(d.Template)))
}

// dependents returns the topology's Dependents of node id, asking once per
// plan.
func (pl *planning) dependents(id topology.NodeID) ([]topology.Dependent, error) {
	return pl.askOnce(&pl.up.dependents, id, pl.topo.Dependents)
}

// appDependents returns node n's dependents from what dl lists for its
// whole application, asking once per plan: a request replaces all of an
// application's nodes of a template, and asking for each would cost a
// call, or a lookup in an index of every node, per node.
func (pl *planning) appDependents(dl topology.DependentsLister, n *topology.Node) ([]topology.Dependent, error) {
	byNode, err := pl.appDependentsByNode(dl, n.App)
	return byNode[n.ID], err
}

// appDependentsByNode returns what dl lists depending on the nodes of
// app, by node, asking once per plan.
func (pl *planning) appDependentsByNode(dl topology.DependentsLister, app topology.AppID) (map[topology.NodeID][]topology.Dependent, error) {
	byNode, ok := pl.up.byApp[app]
	if !ok {
		var err error
		if byNode, err = dl.AppDependents(pl.ctx, app); err != nil {
			return nil, err
		}
		if pl.up.byApp == nil {
			pl.up.byApp = map[topology.AppID]map[topology.NodeID][]topology.Dependent{}
		}
		pl.up.byApp[app] = byNode
	}
	return byNode, nil
}

// upward is the state of the walk up a plan's Dependents for co-tenants
// (see above): each node's dependents asked for once, the templates of the
// nodes met, and what lies above each node per template, once worked out.
type upward struct {
	dependents map[topology.NodeID][]topology.Dependent
	templates  map[topology.TemplateID]*topology.Template
	memo       map[aboveKey]aboveEntry
	path       []topology.NodeID // the nodes being worked out, bottom first
	count      int               // nodes and templates met
	// listed holds, by node, the nodes above it that aboveOf found.
	listed map[topology.NodeID][]topology.Dependent
	// byApp holds what a topology.DependentsLister listed, by application.
	byApp map[topology.AppID]map[topology.NodeID][]topology.Dependent
}

// aboveKey names what lies above a node for one template.
type aboveKey struct {
	node     topology.NodeID
	template topology.TemplateID
}

// aboveEntry is what lies above a node for a template: one co-tenant
// demand per constraint (see above).
type aboveEntry struct {
	demands []Demand
	working bool // being worked out: met again, the dependents form a cycle
}

// Bounds on the upward walk, against a topology whose Dependents never
// end: how many nodes one chain may have above a platform node, and how
// many nodes and templates one plan may meet on the way up.
const (
	maxAboveDepth = 1 << 12
	maxAbove      = 1 << 21
)

// above returns, for template t, one demand per constraint that the nodes
// strictly above node id place on the nodes of t beneath them, each naming
// the least such node (by application, node and template): the nodes that
// the topology's Dependents reach going up from id, not past a node of t
// (whose own requirements bind the nodes of t it runs on, not those
// beneath it), whose template has a requirement naming t, other than the
// nodes being replaced. A node's constraint on t is its template's, not
// that of its relationship to the node it reached id through, which names
// another template.
//
// The answer is worked out once per node and template in a plan, and a
// node's dependents are asked for once: a platform node with thousands of
// nodes above it, and the nodes of other templates beneath it, do not pay
// for them again. Dependents are direct ones only (see
// topology.Topology); a node reached by two ways up counts once, being
// grouped by constraint. A topology whose Dependents form a cycle gets a
// *CycleError; one whose chains or whose nodes above never end, an error
// once past maxAboveDepth or maxAbove.
func (pl *planning) above(id topology.NodeID, t topology.TemplateID) ([]Demand, error) {
	key := aboveKey{id, t}
	if e, ok := pl.up.memo[key]; ok {
		if e.working {
			return nil, pl.up.cycle(id)
		}
		return e.demands, nil
	}
	if deps, ok := pl.up.dependents[id]; ok && len(deps) == 0 {
		return nil, nil // nothing above, whatever the template: no need to remember it
	}
	if err := pl.up.enter(key); err != nil {
		return nil, err
	}
	deps, err := pl.dependents(id)
	if err != nil {
		return nil, err
	}
	var out []Demand
	for i := range deps {
		d := &deps[i]
		if i > 0 && deps[i-1].Node == d.Node && deps[i-1].Template == d.Template {
			continue
		}
		if out, err = pl.aboveDependent(out, d, i, id, t); err != nil {
			return nil, err
		}
	}
	pl.up.path = pl.up.path[:len(pl.up.path)-1]
	pl.up.memo[key] = aboveEntry{demands: out}
	return out, nil
}

// aboveDependent adds to out, for template t, the demands of the i-th
// dependent d of node id and of the nodes above it.
func (pl *planning) aboveDependent(out []Demand, d *topology.Dependent, i int, id topology.NodeID, t topology.TemplateID) ([]Demand, error) {
	if err := pl.checkWalked(d, i, id); err != nil {
		return nil, err
	}
	out, err := pl.requirementsOn(out, d, t, fmt.Sprintf("dependent #%d of node %q", i+1, id))
	if err != nil || d.Template == t { // not past a node of t
		return out, err
	}
	up, err := pl.above(d.Node, t)
	if err != nil {
		return nil, goneDependent(err, d, i, id)
	}
	for _, a := range up {
		out = addCotenant(out, a)
	}
	return out, nil
}

// requirementsOn adds to out the demands that the requirements of d's
// template place on the nodes of template t, unless d is exempt (see
// exempt); item names d in an error.
func (pl *planning) requirementsOn(out []Demand, d *topology.Dependent, t topology.TemplateID, item string) ([]Demand, error) {
	if pl.exempt(d) {
		return out, nil
	}
	tmpl, err := pl.aboveTemplate(d.Template)
	if err != nil {
		return nil, dependentError(item, d, err)
	}
	checked := false
	for _, r := range tmpl.Requirements {
		if r.Template != t || r.Constraint.IsZero() {
			continue
		}
		if !checked {
			if err := checkIDs(d, item); err != nil {
				return nil, err
			}
			checked = true
		}
		out = addCotenant(out, Demand{Constraint: r.Constraint, App: d.App, Template: d.Template, Node: d.Node})
	}
	return out, nil
}

// enter starts working out what lies above a node for a template, or
// returns an error when the walk has gone too far up or met too much.
func (u *upward) enter(key aboveKey) error {
	if len(u.path) >= maxAboveDepth || u.count >= maxAbove {
		return topologyError(fmt.Sprintf("node %q", key.node), "more than %d nodes above it, or more than %d in all, by its Dependents", maxAboveDepth, maxAbove)
	}
	if u.memo == nil {
		u.memo = map[aboveKey]aboveEntry{}
	}
	u.memo[key] = aboveEntry{working: true}
	u.count++
	u.path = append(u.path, key.node)
	return nil
}

// cycle reports the cycle that the Dependents of the nodes being worked
// out form, met again at node id.
func (u *upward) cycle(id topology.NodeID) error {
	cycle := cyclePath(u.path, slices.Index(u.path, id), nodeName, string(id))
	slices.Reverse(cycle) // the way relationships point: down
	return &CycleError{Path: cycle}
}

// checkWalked refuses dependent i of node id when the identifiers the walk
// up passes back to the topology, its node's and its template's, lie
// outside the safe set: a host may look them up in a store of its own. A
// node the walk cannot pass could hide co-tenants above it, so the plan
// fails rather than skip it. A node whose Dependents were asked for, and
// a template looked up, were checked before.
func (pl *planning) checkWalked(d *topology.Dependent, i int, id topology.NodeID) error {
	if _, ok := pl.up.dependents[d.Node]; !ok {
		if err := topology.CheckID("node", string(d.Node)); err != nil {
			return topologyIDError(fmt.Sprintf("dependent #%d of node %q", i+1, id), err)
		}
	}
	return pl.checkTemplate(d, i, id)
}

// checkTemplate refuses the template of dependent i of node id when it lies
// outside the safe set, unless it was looked up before.
func (pl *planning) checkTemplate(d *topology.Dependent, i int, id topology.NodeID) error {
	if _, ok := pl.up.templates[d.Template]; ok {
		return nil
	}
	if _, ok := pl.templates[d.Template]; ok {
		return nil
	}
	if err := topology.CheckID("template", string(d.Template)); err != nil {
		return topologyIDError(fmt.Sprintf("dependent #%d of node %q", i+1, id), err)
	}
	return nil
}

// dependentError says where err, a failure to look up dependent d (named
// by item) or its template, came from: a Dependents index that went stale
// lists a node that is gone, or whose template is. d's IDs are checked.
func dependentError(item string, d *topology.Dependent, err error) error {
	err = fmt.Errorf("upgrade: %s, node %q of template %q: %w", item, d.Node, d.Template, err)
	if errors.Is(err, topology.ErrNotFound) {
		err = fmt.Errorf("%w; the topology lists among the dependents a node or template it does not hold: bring its index of dependents up to date", err)
	}
	return err
}

// goneDependent returns err, met walking up from d, dependent i of node
// id, as a dependentError when it is that the topology does not hold d.
func goneDependent(err error, d *topology.Dependent, i int, id topology.NodeID) error {
	if nf, ok := errors.AsType[*topology.NotFoundError](err); ok && nf.Kind == "node" && nf.ID == string(d.Node) {
		return dependentError(fmt.Sprintf("dependent #%d of node %q", i+1, id), d, err)
	}
	return err
}

// aboveTemplate returns a template met on the way up, looking it up once.
func (pl *planning) aboveTemplate(id topology.TemplateID) (*topology.Template, error) {
	if t, ok := pl.templates[id]; ok {
		return t, nil
	}
	if t, ok := pl.up.templates[id]; ok {
		return t, nil
	}
	if pl.up.count >= maxAbove {
		return nil, topologyError(fmt.Sprintf("template %q", id), "more than %d nodes and templates above the platform nodes, by its Dependents", maxAbove)
	}
	t, err := pl.topo.Template(pl.ctx, id)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, nilAnswer("template", string(id))
	}
	if pl.up.templates == nil {
		pl.up.templates = map[topology.TemplateID]*topology.Template{}
	}
	pl.up.templates[id] = t
	pl.up.count++
	return t, nil
}

// cotenantGroup returns the index of the demand with d's constraint, or -1.
func cotenantGroup(cotenants []Demand, c version.Constraint) int {
	return slices.IndexFunc(cotenants, func(o Demand) bool { return o.Constraint.String() == c.String() })
}

// nameCotenants makes each of pf's co-tenant demands name the first
// co-tenant with its constraint by application, node and template, so that
// what a plan says does not depend on the order of the topology's answers.
func (pl *planning) nameCotenants(pf *platform) {
	if pf.cotenantsNamed {
		return
	}
	pf.cotenantsNamed = true
	for i := range pf.dependents {
		d := &pf.dependents[i]
		if d.Constraint.IsZero() || pl.exempt(d) {
			continue
		}
		c := Demand{Constraint: d.Constraint, App: d.App, Template: d.Template, Node: d.Node}
		if o := &pf.cotenants[cotenantGroup(pf.cotenants, d.Constraint)]; compareDemands(c, *o) < 0 {
			if err := checkDependent(pf, i); err != nil {
				pf.badDependent = cmp.Or(pf.badDependent, err)
				continue
			}
			*o = c
		}
	}
}

// allCotenants returns the demands of every co-tenant of pf, sorted, for
// an error that names them all: the dependents, and the nodes above them
// that cotenants found (see aboveOf), each once per constraint.
func (pl *planning) allCotenants(pf *platform) ([]Demand, error) {
	return pl.cotenantsBut(pf, pl.exempt)
}

// cotenantsBut is allCotenants, leaving out the nodes that exempt
// reports, rather than those that pl.exempt does.
func (pl *planning) cotenantsBut(pf *platform, exempt func(*topology.Dependent) bool) ([]Demand, error) {
	var out []Demand
	for i, d := range pf.dependents {
		if !d.Constraint.IsZero() && !exempt(&d) {
			if err := checkDependent(pf, i); err != nil {
				return nil, err
			}
			out = append(out, Demand{Constraint: d.Constraint, App: d.App, Template: d.Template, Node: d.Node})
		}
	}
	above := pf.above
	if !pf.aboveListed {
		var err error
		if above, err = pl.aboveOf(pf.nodeInfo); err != nil {
			return nil, err
		}
	}
	for _, d := range above {
		if !d.Constraint.IsZero() && !exempt(&d) {
			out = append(out, Demand{Constraint: d.Constraint, App: d.App, Template: d.Template, Node: d.Node})
		}
	}
	sortDemands(out)
	return slices.CompactFunc(out, func(a, b Demand) bool { return sameDemand(&a, &b) }), nil
}

// checkDependent refuses the identifiers of pf's dependent i, from the
// caller's topology, when they lie outside the safe set. A dependent's
// identifiers reach a plan or an error only as a co-tenant demand, so
// only those that become one are checked: a shared platform node can
// have thousands of dependents.
func checkDependent(pf *platform, i int) error {
	return checkDependentOf(pf.node.ID, pf.dependents, i)
}

// checkDependentOf checks the identifiers of the i-th of deps, node id's
// dependents.
func checkDependentOf(id topology.NodeID, deps []topology.Dependent, i int) error {
	if err := badID(&deps[i]); err != nil {
		return topologyIDError(fmt.Sprintf("dependent #%d of node %q", i+1, id), err)
	}
	return nil
}

// exempt reports whether co-tenant d is held to its template's
// requirements on the platform beneath it: not when a request replaces it,
// nor when the plan upgrades it (see upgraded). The plan warns when such a
// node's old requirement is broken until its own step (see
// oldRequirementWarnings).
func (pl *planning) exempt(d *topology.Dependent) bool {
	return pl.replacedHere(d) || pl.upgraded(d.Node)
}

// replacedHere reports whether a request of the plan replaces co-tenant
// d.
func (pl *planning) replacedHere(d *topology.Dependent) bool {
	return pl.replacesAll(d.App, d.Template) || pl.renamed[d.Node]
}

// replacesAll reports whether a request replaces every node of template t
// in application app: t is the template it replaces. Of its new
// template's ID, it replaces only the nodes with its version (see
// targets), which gather lists in pl.renamed.
func (pl *planning) replacesAll(app topology.AppID, t topology.TemplateID) bool {
	r, ok := pl.replacing[appTemplate{app, t}]
	return ok && pl.requests[r].Replaces == t
}

// upgraded reports whether node id is a platform node that the plan
// upgrades: it has been decided, being above the node being decided
// (nodes are decided from the top down), and its path has steps. Its old
// template's requirements do not bind the nodes beneath it once it is
// upgraded; the requirements of its new packages are demands on them
// already (see passDown).
func (pl *planning) upgraded(id topology.NodeID) bool {
	n, ok := pl.nodes[id]
	return ok && n.platform != nil && n.platform.decided && len(n.platform.path) > 0
}

// replaces reports whether a request replaces the nodes of template t in
// application app.
func (pl *planning) replaces(app topology.AppID, t topology.TemplateID) bool {
	_, ok := pl.replacing[appTemplate{app, t}]
	return ok
}

// sortDemands sorts co-tenant demands by constraint, then by application,
// node and template.
func sortDemands(ds []Demand) { slices.SortFunc(ds, compareDemands) }

func compareRequirements(a, b pkgsource.Requirement) int {
	return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Constraint.String(), b.Constraint.String()))
}

func compareDemands(a, b Demand) int {
	return cmp.Or(cmp.Compare(a.Constraint.String(), b.Constraint.String()),
		cmp.Compare(a.App, b.App), cmp.Compare(a.Node, b.Node), cmp.Compare(a.Template, b.Template))
}
