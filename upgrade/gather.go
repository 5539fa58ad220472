package upgrade

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// planning is the state of one PlanAll call: what it has looked up, the
// nodes it replaces, and the platform nodes it decides.
type planning struct {
	*Planner
	ctx       context.Context
	requests  []Request           // the plan's
	replacing map[appTemplate]int // the templates the requests replace, by request

	nodes        map[topology.NodeID]*nodeInfo // looked up by ID; not the replaced nodes gather makes (see replacedNode)
	replacedByID map[topology.NodeID]*nodeInfo // made once a relationship leads to a replaced node
	apps         map[topology.AppID]*topology.Application
	templates    map[topology.TemplateID]*topology.Template
	catalogs     map[string]*catalog // by type

	replaced []replacement            // the application nodes replaced, in the order met
	stepIDs  strings.Builder          // the IDs of their steps, one after the other (see replacement.idEnd)
	renamed  map[topology.NodeID]bool // those of a new template's ID (see targets)
	byHeight [][]*platform            // the platform nodes by height
	walk     walk                     // see beneath and height
	up       upward                   // see above
}

type nodeInfo struct {
	node     *topology.Node // read-only: it may be the topology's own
	template *topology.Template
	seen     uint64      // the last walk that reached it (see beneath)
	platform *platform   // when something is demanded of it
	below    []*nodeInfo // the nodes of its relationships, once looked up
	one      [1]*nodeInfo
	// height and its state; see planning.height
	height      int
	heightState uint8
}

// platform is a platform node that something needs something of.
type platform struct {
	*nodeInfo
	// The demands on it, once it is being decided; till then, the origins
	// of the requests' and the packages' demands (see demandOrigin and
	// demandPackage).
	demands        []Demand
	origins        []origin
	packageDemands []Demand
	// via lists the packages whose requirements led here, outermost first.
	via []*pkgsource.Package

	// The decision.
	decided   bool
	path      []*pkgsource.Package
	cotenants []Demand // one per constraint; see cotenants
	// dependents is what the topology said runs on or needs the node;
	// cotenantsNamed whether nameCotenants has run, and badDependent the
	// first error it met in a dependent that would have named a demand.
	dependents     []topology.Dependent
	above          []topology.Dependent // from a topology.AboveLister, if aboveListed
	aboveListed    bool
	cotenantsNamed bool
	badDependent   error
	binding        []*Demand // the co-tenant demands that ruled out a version
	// The catalog of the node's type, where the installed version is in
	// it, and the number of hops to each package (see distances).
	cat        *catalog
	firstAbove int                   // the index of the lowest version above the installed one in cat
	dist       *[]int32              // shared: see distances
	down       []int32               // see downDistances
	one        [1]*pkgsource.Package // the path of one package, as most are
	candidates []Candidate
	// The IDs of its steps, once assembled, and the index of the last in
	// the plan's steps: a replaced node's are its application step's.
	steps     []StepID
	lastIndex int
}

// lastStep returns the ID of pf's last step.
func (pf *platform) lastStep() StepID { return pf.steps[len(pf.steps)-1] }

// replacement is an application node that a request replaces.
type replacement struct {
	*nodeInfo
	request int // its index in the requests
	// current says that the node has the new template's version already:
	// a satisfied check, not a step.
	current bool
	// idEnd is where the ID of its step ends in planning.stepIDs, which
	// holds those of the replaced nodes not current, in order: written as
	// gather meets each node, rather than looked up again for each of a
	// fleet's steps (see appStepIDs).
	idEnd int
}

func (pl *planning) application(id topology.AppID) (*topology.Application, error) {
	if a, ok := pl.apps[id]; ok {
		return a, nil
	}
	a, err := pl.topo.Application(pl.ctx, id)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, nilAnswer("application", string(id))
	}
	pl.apps[id] = a
	return a, nil
}

func (pl *planning) node(id topology.NodeID) (*nodeInfo, error) {
	if n, ok := pl.nodes[id]; ok {
		return n, nil
	}
	n, err := pl.topo.Node(pl.ctx, id)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return nil, nilAnswer("node", string(id))
	}
	if err := checkNode(n); err != nil {
		return nil, err
	}
	if n.ID != id {
		return nil, otherNode(id, n.ID)
	}
	if n.App == "" {
		// The planner would not know it as a node that a request
		// replaces: it would decide it as a platform node too, two
		// steps on one node.
		return nil, topologyError(fmt.Sprintf("node %q", id), "no application: return each node with Node.App set to the application it belongs to, as Topology.Node says")
	}
	t, err := pl.templateOf(n)
	if err != nil {
		return nil, err
	}
	var info *nodeInfo
	replaced := pl.replaces(n.App, n.Template)
	if replaced {
		info = pl.replacedNode(id)
	}
	if info == nil {
		if n.Version.IsZero() { // the topology's own: complete a copy
			c := *n
			c.Version = t.Version
			n = &c
		}
		info = &nodeInfo{node: n, template: t}
		if pl.replacedByID != nil && replaced {
			pl.replacedByID[id] = info // for gather, which comes to it later
		}
	}
	pl.nodes[id] = info
	return info, nil
}

// templateOf returns the template of node n, looking it up the first
// time.
func (pl *planning) templateOf(n *topology.Node) (*topology.Template, error) {
	if t, ok := pl.templates[n.Template]; ok {
		return t, nil
	}
	t, err := pl.topo.Template(pl.ctx, n.Template)
	switch {
	case errors.Is(err, topology.ErrNotFound):
		return nil, topologyError(fmt.Sprintf("node %q", n.ID), "of template %q, which the topology does not hold: add the template to the topology, or give the node its template (%w)", n.Template, err)
	case err != nil:
		return nil, err
	case t == nil:
		return nil, nilAnswer("template", string(n.Template))
	}
	if err := topology.CheckID("type", t.Type); err != nil {
		return nil, topologyIDError(fmt.Sprintf("template %q", n.Template), err)
	}
	pl.templates[n.Template] = t
	return t, nil
}

// nilAnswer reports a lookup of the topology that returned neither what
// was asked for nor an error, as a map-backed inventory may for an ID it
// does not hold: the planner would otherwise dereference nil.
func nilAnswer(kind, id string) error {
	return topologyError(fmt.Sprintf("%s %q", kind, id), "no %s and no error: return an error matching topology.ErrNotFound for an unknown ID", kind)
}

// otherNode reports a lookup of node asked for that returned node got, as
// an inventory that matches IDs without regard to case may ("Tomcat-1" for
// "tomcat-1"): the planner would take one node for two, deciding each on
// its own, into a plan with two steps of one ID; and the topology's
// Dependents would not list what names the node otherwise.
func otherNode(asked, got topology.NodeID) error {
	return topologyError("node "+topology.Quote(string(asked)), "asked for it, it returned node %s: return the node of the ID asked for, exactly, "+
		"and name each node by its own ID in relationships (IDs are case-sensitive)", topology.Quote(string(got)))
}

// checkNode refuses a node, from the caller's topology, whose identifiers
// are outside the safe set: they would reach steps, plans and executors.
func checkNode(n *topology.Node) error {
	err := cmp.Or(topology.CheckID("node", string(n.ID)), topology.CheckID("template", string(n.Template)))
	if err == nil && n.App != "" {
		err = topology.CheckID("application", string(n.App))
	}
	if err != nil { // the ID may be the one refused, of any length: quoted short
		return topologyIDError("node "+topology.Quote(string(n.ID)), err)
	}
	for i, r := range n.Relationships {
		if err := topology.CheckID("node", string(r.Target)); err != nil {
			return topologyIDError(fmt.Sprintf("node %q relationship #%d", n.ID, i+1), err)
		}
	}
	return nil
}

// replacedNode returns the node of that ID that gather has met among those
// the requests replace, or nil. Nodes being replaced are kept out of
// pl.nodes, a fleet's worth of them: they are found by ID only when a
// relationship leads to one, which few topologies have, and are indexed
// then.
func (pl *planning) replacedNode(id topology.NodeID) *nodeInfo {
	if pl.replacedByID == nil {
		pl.replacedByID = make(map[topology.NodeID]*nodeInfo, len(pl.replaced))
		for _, r := range pl.replaced {
			pl.replacedByID[r.node.ID] = r.nodeInfo
		}
	}
	return pl.replacedByID[id]
}

// beneath returns the nodes reachable from start through relationships, in
// breadth-first order, that match: the walk does not go past a matching
// node.
//
// The result is valid until the next walk: walks reuse their lists.
func (pl *planning) beneath(start *nodeInfo, match func(*nodeInfo) bool) ([]*nodeInfo, error) {
	return pl.walkDown(start, false, match)
}

// requiredBeneath returns the nodes of type typ that a package installed
// on start requires something of: those start runs on, down its hosting
// chain, or if there are none, those beneath it through any relationship
// (a database it depends on, say). A node it merely depends on does not
// answer for what its package needs of its own runtime.
func (pl *planning) requiredBeneath(start *nodeInfo, typ string) ([]*nodeInfo, error) {
	return pl.runsOn(start, func(n *nodeInfo) bool { return n.template.Type == typ })
}

// runsOn returns the nodes beneath start that match and that start runs
// on, down its hosting chain, or if there are none, those beneath it
// through any relationship, as beneath.
func (pl *planning) runsOn(start *nodeInfo, match func(*nodeInfo) bool) ([]*nodeInfo, error) {
	found, err := pl.walkDown(start, true, match)
	if err != nil || len(found) > 0 {
		return found, err
	}
	return pl.walkDown(start, false, match)
}

// walkDown is beneath, through hosted_on relationships only if hosting.
func (pl *planning) walkDown(start *nodeInfo, hosting bool, match func(*nodeInfo) bool) ([]*nodeInfo, error) {
	w := &pl.walk
	queue, found, err := pl.walkInto(w.queue[:0], w.found[:0], start, hosting, match)
	if err != nil {
		return nil, err
	}
	w.queue, w.found = queue, found
	return found, nil
}

// walkInto is walkDown, appending to queue and found, which it returns,
// rather than to the lists walks reuse: a walk made while the result of
// another is in use keeps lists of its own.
func (pl *planning) walkInto(queue, found []*nodeInfo, start *nodeInfo, hosting bool, match func(*nodeInfo) bool) (_, _ []*nodeInfo, err error) {
	w := &pl.walk
	// A walk marks the nodes it has seen with its own number, so that no
	// walk needs a fresh set.
	w.number++
	start.seen = w.number
	queue = append(queue, start)
	for head := 0; head < len(queue); head++ {
		below, err := pl.below(queue[head])
		if err != nil {
			return nil, nil, err
		}
		for i, t := range below {
			if t.seen == w.number || hosting && queue[head].node.Relationships[i].Relation != topology.HostedOn {
				continue
			}
			t.seen = w.number
			if match(t) {
				found = append(found, t)
				continue
			}
			queue = append(queue, t)
		}
	}
	return queue, found, nil
}

// walk is the state of the walks down the relationships, reused from one
// to the next: beneath's, and height's.
type walk struct {
	number       uint64 // of the current walk; see nodeInfo.seen
	queue, found []*nodeInfo
	heights      []topology.NodeID // the nodes whose height is being worked out
}

// below returns the nodes n has relationships to, looking them up the
// first time.
func (pl *planning) below(n *nodeInfo) ([]*nodeInfo, error) {
	if n.below == nil && len(n.node.Relationships) > 0 {
		below := n.one[:] // most nodes have one relationship: no list to allocate
		if len(n.node.Relationships) > 1 {
			below = make([]*nodeInfo, len(n.node.Relationships))
		}
		for i, r := range n.node.Relationships {
			t, err := pl.node(r.Target)
			if errors.Is(err, topology.ErrNotFound) && !errors.Is(err, topology.ErrInvalid) {
				// A host's inventory may keep a relationship to a node
				// it no longer holds: name the node that keeps it. (A
				// node whose template it does not hold is named as
				// invalid by node.)
				return nil, topologyError(fmt.Sprintf("node %q relationship #%d", n.node.ID, i+1),
					"%s node %q, which the topology does not hold: add the node to the topology, or remove the relationship (%w)", r.Relation, r.Target, err)
			}
			if err != nil {
				return nil, err
			}
			below[i] = t
		}
		n.below = below
	}
	return n.below, nil
}

// height returns the length of the longest chain of relationships down from
// n. A node is always higher than every node beneath it.
func (pl *planning) height(n *nodeInfo) (int, error) {
	switch n.heightState {
	case heightKnown:
		return n.height, nil
	case heightWorking:
		path := pl.walk.heights
		return 0, &CycleError{Path: cyclePath(path, slices.Index(path, n.node.ID), nodeName, string(n.node.ID))}
	}
	n.heightState = heightWorking
	pl.walk.heights = append(pl.walk.heights, n.node.ID)
	h := 0
	below, err := pl.below(n)
	if err != nil {
		return 0, err
	}
	for _, t := range below {
		hb, err := pl.height(t)
		if err != nil {
			return 0, err
		}
		h = max(h, hb+1)
	}
	pl.walk.heights = pl.walk.heights[:len(pl.walk.heights)-1]
	n.height, n.heightState = h, heightKnown
	return h, nil
}

// The states of a node's height.
const (
	heightUnknown = iota
	heightWorking // being worked out: met again, it is on a cycle
	heightKnown
)

// platformOf returns the platform of node n, making it the first time
// something is demanded of n and filing it by height to be decided. via is
// what led there (see platform.via): it is recorded when no package led
// there before, as when a request's demand made the platform, so that a
// cycle of package requirements through n is found whatever demanded n
// first.
func (pl *planning) platformOf(n *nodeInfo, via []*pkgsource.Package) (*platform, error) {
	pf := n.platform
	if pf == nil {
		if _, err := pl.height(n); err != nil {
			return nil, err
		}
		pf = &platform{nodeInfo: n, via: via}
		n.platform = pf
		for len(pl.byHeight) <= n.height {
			pl.byHeight = append(pl.byHeight, nil)
		}
		pl.byHeight[n.height] = append(pl.byHeight[n.height], pf)
	}
	if pf.decided {
		// Unreachable: demands flow down only, and nodes are decided
		// from the top down.
		return nil, fmt.Errorf("upgrade: internal error: new demand on node %s after it was decided", n.node.ID)
	}
	if len(pf.via) == 0 {
		pf.via = via
	}
	return pf, nil
}

// demandOrigin records on n the demand of a request's requirement, by its
// origin: the same for all the nodes a request replaces, so that it is
// recorded once per platform node cheaply. The demand itself is made when
// n is decided (see demands).
func (pl *planning) demandOrigin(n *nodeInfo, o origin) error {
	pf, err := pl.platformOf(n, nil)
	if err != nil {
		return err
	}
	// Requests come in order: only the latest request's origins can be
	// there already.
	for i := len(pf.origins) - 1; i >= 0 && pf.origins[i].request == o.request; i-- {
		if pf.origins[i] == o {
			return nil
		}
	}
	pf.origins = append(pf.origins, o)
	return nil
}

// demandPackage records on n a package's demand d, once. more is about
// how many demands on n the node being decided places from here on, d
// included: room is made for them all at once.
func (pl *planning) demandPackage(n *nodeInfo, d Demand, via []*pkgsource.Package, more int) error {
	pf, err := pl.platformOf(n, via)
	if err != nil {
		return err
	}
	// Only the node being decided, whose ID d names, places demands now:
	// only its demands, the last ones, can be d already.
	for i := len(pf.packageDemands) - 1; i >= 0 && pf.packageDemands[i].Node == d.Node; i-- {
		if sameDemand(&pf.packageDemands[i], &d) {
			return nil
		}
	}
	if pf.packageDemands == nil {
		pf.packageDemands = make([]Demand, 0, more)
	}
	pf.packageDemands = append(pf.packageDemands, d)
	return nil
}

// demands returns the demands on pf in the order they came: the requests',
// all placed before any node is decided, then the packages'. Requests'
// demands are kept as their origins until then: a platform node that a
// whole fleet runs on has one from every request.
func (pl *planning) demands(pf *platform) []Demand {
	if len(pf.origins) == 0 {
		return slices.Clip(pf.packageDemands)
	}
	ds := make([]Demand, len(pf.origins), len(pf.origins)+len(pf.packageDemands))
	for i, o := range pf.origins {
		r := &pl.requests[o.request]
		ds[i] = Demand{Constraint: r.Template.Requirements[o.requirement].Constraint, App: r.Application,
			Template: r.Template.ID, Version: r.Template.Version}
	}
	return append(ds, pf.packageDemands...)
}

// origin names a requirement of a request's template by their indices.
type origin struct{ request, requirement int }

// missing reports that no node of template beneath info, of app, and
// which templates beneath have template as their type, if any.
func (pl *planning) missing(app topology.AppID, template topology.TemplateID, info *nodeInfo) error {
	e := &MissingNodeError{App: app, Template: template, Beneath: info.node.ID}
	typed, err := pl.beneath(info, func(c *nodeInfo) bool { return c.template != nil && c.template.Type == string(template) })
	if err != nil {
		return err
	}
	for _, c := range typed {
		e.TypeOf = append(e.TypeOf, c.node.Template)
	}
	slices.Sort(e.TypeOf)
	e.TypeOf = slices.Compact(e.TypeOf)
	return e
}

// requestDemand is what r asks of the nodes it replaces: its new
// template's version, exactly.
func requestDemand(r *Request) Demand {
	c, _ := version.ParseConstraint("=" + r.Template.Version.Canonical().String()) // canonical: "=2.1" would mean 2.1.x
	return Demand{Constraint: c, App: r.Application, Template: r.Template.ID, Version: r.Template.Version}
}

// gather records the application nodes r replaces and the demands r places
// on the platform nodes beneath them: those they run on (see runsOn).
func (pl *planning) gather(r *Request, index int) error {
	replaced, renamed, targets, err := pl.targets(r, index)
	if err != nil {
		return err
	}
	infos := make([]nodeInfo, len(targets))              // a fleet's worth: one allocation per request
	canonical := r.Template.Version.Canonical().String() // step IDs have it (see StepID)
	for i, n := range targets {
		t := replaced
		if n.Template != r.Replaces {
			t = renamed
		}
		info, err := pl.replace(r, index, n, t, &infos[i], canonical)
		if err != nil {
			return err
		}
		for k, req := range r.Template.Requirements {
			found, err := pl.runsOn(info, func(c *nodeInfo) bool { return pl.answers(c, req.Template) })
			if err != nil {
				return err
			}
			if len(found) == 0 {
				return pl.missing(r.Application, req.Template, info)
			}
			for _, f := range found {
				if err := pl.renamedAway(index, k, f); err != nil {
					return err
				}
				if err := pl.demandOrigin(f, origin{index, k}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// answers reports whether node n answers a requirement on template t: it
// is of t, or a request replaces it with a template of ID t, whose version
// it will have once its step has run (see replacedAllows), as a batch
// that moves a platform's nodes to a template of a new ID may require.
// A node that a request moves, or has moved, from t to a template of
// another ID answers too, for renamedAway to refuse the requirement.
func (pl *planning) answers(n *nodeInfo, t topology.TemplateID) bool {
	if n.node.Template == t {
		return true
	}
	r := pl.replacedBy(n)
	return r != nil && (r.Template.ID == t || r.Replaces == t)
}

// renamedAway refuses requirement k of request index when node n, which
// answers it, is replaced by a request with a template of another ID: once
// the plan has run, or a part of it, the node is no longer of the template
// the requirement names, and neither planning the batch again nor the
// requiring template would find it. The requirement must name the new ID,
// which answers it (see answers).
func (pl *planning) renamedAway(index, k int, n *nodeInfo) error {
	if len(pl.replacing) == len(pl.requests) { // no request gives its new template an ID of its own (see validateRequests): most plans, no lookup per node
		return nil
	}
	req := &pl.requests[index].Template.Requirements[k]
	r := pl.replacedBy(n)
	if r == nil || r.Template.ID == req.Template {
		return nil
	}
	return &RequestError{Request: index, Field: fmt.Sprintf("Template.Requirements[%d].Template", k),
		Reason: fmt.Sprintf("request #%d replaces template %q of application %q with %q, which node %q is of once its step has run: require %q",
			pl.replacing[appTemplate{r.Application, r.Replaces}]+1, r.Replaces, r.Application, r.Template.ID, n.node.ID, r.Template.ID)}
}

// countTargets returns how many nodes the requests replace, as far as the
// applications it can look up tell, and about how long the IDs of their
// steps are together: the sizes of pl.replaced and pl.stepIDs, which would
// otherwise grow a fleet's worth many times. Gather reports what it
// cannot look up, in the order of the requests.
func (pl *planning) countTargets() (n, idBytes int) {
	for i := range pl.requests {
		r := &pl.requests[i]
		app, err := pl.application(r.Application)
		if err != nil {
			break
		}
		for k := range app.Nodes {
			if t := app.Nodes[k].Template; t == r.Replaces || t == r.Template.ID {
				n++
				// Not yet checked: an ID too long to be one (see checkNode)
				// reserves no more than the longest.
				idBytes += len("app/@") + min(len(app.Nodes[k].ID), topology.MaxIDLength) + len(r.Template.Version.String())
			}
		}
	}
	return n, idBytes
}

// targets returns the templates r replaces in its application, and
// their nodes, sorted by ID: those of r.Replaces, and when the new
// template has an ID of its own, those of that ID with its version, which
// a run, or part of one, has moved to it (and which are current), or
// another build of it, which a run of that build moved (a new build to
// deploy, see Version.Same). When
// r.Replaces is not defined, there must be such nodes. A new template's
// ID of its own must be new, or that of such a template: not of another
// type, nor of another application's template, which a host recording the
// run in its topology could not tell from the new one (request index).
func (pl *planning) targets(r *Request, index int) (replaced, renamed *topology.Template, targets []*topology.Node, err error) {
	app, err := pl.application(r.Application)
	if errors.Is(err, topology.ErrNotFound) {
		return nil, nil, nil, fmt.Errorf("upgrade: request #%d: Application: %w; name the deployed application whose nodes of template %q the request upgrades, as the topology spells it",
			index+1, err, r.Replaces)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	replaced, _ = app.Template(r.Replaces)
	if r.Template.ID != r.Replaces {
		if renamed, err = pl.renamedTemplate(app, r, index); err != nil {
			return nil, nil, nil, err
		}
	}
	for _, t := range [...]*topology.Template{replaced, renamed} {
		if t == nil {
			continue
		}
		if err := topology.CheckID("type", t.Type); err != nil {
			return nil, nil, nil, topologyIDError(fmt.Sprintf("template %q", t.ID), err)
		}
	}
	if targets, err = nodesOf(app, r, renamed); err != nil {
		return nil, nil, nil, err
	}
	if replaced == nil {
		// The template is gone, but for nodes of the new one: nodes that
		// still name it lack what they were deployed from.
		for _, n := range targets {
			if n.Template == r.Replaces {
				return nil, nil, nil, topologyError(fmt.Sprintf("node %q", n.ID), "unknown template %q: application %q does not define it", n.Template, r.Application)
			}
		}
	}
	switch {
	case replaced == nil && len(targets) == 0:
		return nil, nil, nil, pl.unknownReplaced(app, r, index)
	case len(targets) == 0:
		return nil, nil, nil, &MissingNodeError{App: r.Application, Template: r.Replaces}
	}
	return replaced, renamed, targets, nil
}

// unknownReplaced reports r.Replaces, which app has neither as a template
// nor in its nodes, as a *topology.NotFoundError naming the request, with
// what to name instead: a template of app, or, when the topology has the
// template in another application, that application.
func (pl *planning) unknownReplaced(app *topology.Application, r *Request, index int) error {
	const show = 10
	ids := make([]string, 0, len(app.Templates))
	for _, t := range app.Templates {
		id := string(t.ID)
		if topology.CheckID("template", id) != nil {
			id = topology.Quote(id)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	list := strings.Join(ids[:min(len(ids), show)], ", ")
	if len(ids) > show {
		list += fmt.Sprintf(", and %d more", len(ids)-show)
	}
	reason := fmt.Sprintf("name a template of application %q: %s", r.Application, list)
	if len(ids) == 0 {
		reason = fmt.Sprintf("application %q has no template: name the application whose nodes are of it", r.Application)
	}
	if t, err := pl.topo.Template(pl.ctx, r.Replaces); err == nil && t != nil && len(ids) > 0 {
		reason = fmt.Sprintf("it is another application's: name the application whose nodes are of it, or a template of application %q: %s", r.Application, list)
	}
	return fmt.Errorf("upgrade: request #%d: Replaces: %w; %s", index+1,
		&topology.NotFoundError{Kind: "template", ID: string(r.Replaces), App: r.Application}, reason)
}

// renamedTemplate returns the template of app that has the ID of r's new
// template, which r replaces too (see targets), or nil when the ID is new;
// and an error when a template of another type, or of another
// application, has it.
func (pl *planning) renamedTemplate(app *topology.Application, r *Request, index int) (*topology.Template, error) {
	bad := func(reason string) error { return &RequestError{Request: index, Field: "Template.ID", Reason: reason} }
	if t, ok := app.Template(r.Template.ID); ok {
		// A request that gives no type has that of the template it
		// replaces.
		want, whose := r.Template.Type, ""
		if old, ok := app.Template(r.Replaces); ok && want == "" {
			want, whose = old.Type, fmt.Sprintf(", the type of %q, which the request replaces", r.Replaces)
		}
		if want != "" && t.Type != want {
			return nil, bad(fmt.Sprintf("application %q has a template %q of type %s, not %s%s: give the new template an ID of its own",
				r.Application, r.Template.ID, topology.Quote(t.Type), topology.Quote(want), whose))
		}
		return t, nil
	}
	switch t, err := pl.topo.Template(pl.ctx, r.Template.ID); {
	case errors.Is(err, topology.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case t != nil:
		return nil, bad(fmt.Sprintf("template %q is another application's, not %q's: give the new template an ID of its own", r.Template.ID, r.Application))
	}
	return nil, nilAnswer("template", string(r.Template.ID))
}

// nodesOf returns the nodes of app that r replaces, sorted by ID: those of
// r.Replaces, and those of template renamed (if not nil) that have r's
// version, of any build (see targets).
func nodesOf(app *topology.Application, r *Request, renamed *topology.Template) ([]*topology.Node, error) {
	targets := make([]*topology.Node, 0, len(app.Nodes)) // at most: one allocation
	for i := range app.Nodes {
		n := &app.Nodes[i]
		if n.Template == r.Replaces || renamed != nil && n.Template == renamed.ID && cmp.Or(n.Version, renamed.Version).Compare(r.Template.Version) == 0 {
			if err := checkNode(n); err != nil {
				return nil, err
			}
			targets = append(targets, n)
		}
	}
	slices.SortFunc(targets, func(a, b *topology.Node) int { return cmp.Compare(a.ID, b.ID) })
	for i := 1; i < len(targets); i++ {
		if targets[i].ID == targets[i-1].ID { // the plan would have two steps of one ID
			return nil, duplicateNodeError(r.Application, targets[i].ID)
		}
	}
	return targets, nil
}

// duplicateNodeError reports an application that lists node id more than
// once.
func duplicateNodeError(app topology.AppID, id topology.NodeID) error {
	return topologyError(fmt.Sprintf("application %q", app), "node %q is listed more than once: list each node of an application once", id)
}

// replace records that request r (the index-th) replaces node n of
// template replaced, and returns the node: in slot, unless a relationship
// led to it before. canonical is r's version in canonical form, for the
// ID of the node's step.
func (pl *planning) replace(r *Request, index int, n *topology.Node, replaced *topology.Template, slot *nodeInfo, canonical string) (*nodeInfo, error) {
	// The application came with its nodes: no need to ask for each.
	info := pl.replacedByID[n.ID] // nil until a relationship leads to a replaced node
	if info == nil {
		// The topology's own: a node without its App or Version is
		// copied to be completed.
		if n.App != r.Application || n.Version.IsZero() {
			c := *n
			c.App = r.Application
			if c.Version.IsZero() {
				c.Version = replaced.Version
			}
			n = &c
		}
		*slot = nodeInfo{node: n, template: replaced}
		info = slot
		if pl.replacedByID != nil {
			pl.replacedByID[n.ID] = info
		}
	}
	// A relationship may have led to the node first (see planning.node),
	// which completed a copy of it: compare that one's version.
	n = info.node
	// The walks down from it would not come back to it; a platform node's
	// height would have been a cycle.
	for _, rel := range n.Relationships {
		if rel.Target == n.ID {
			return nil, &CycleError{Path: []string{string(n.ID), string(n.ID)}}
		}
	}
	// A node is current when it has the new template's version already,
	// build metadata included: "1.2.3+b7" to "1.2.3+b8" is a new build to
	// deploy (see Version.Same).
	rep := replacement{nodeInfo: info, request: index, current: n.Version.Same(r.Template.Version)}
	if n.Version.Compare(r.Template.Version) > 0 && !pl.cfg.allowDowngrade {
		return nil, &DowngradeError{Node: n.ID, Type: replaced.Type, Installed: n.Version,
			Demands: []Demand{requestDemand(r)}, Candidates: []version.Version{r.Template.Version}, Replaced: true}
	}
	if !rep.current {
		pl.stepIDs.WriteString("app/")
		pl.stepIDs.WriteString(string(n.ID))
		pl.stepIDs.WriteByte('@')
		pl.stepIDs.WriteString(canonical)
		rep.idEnd = pl.stepIDs.Len()
	}
	pl.replaced = append(pl.replaced, rep)
	if n.Template != r.Replaces {
		if pl.renamed == nil {
			pl.renamed = map[topology.NodeID]bool{}
		}
		pl.renamed[n.ID] = true
	}
	return info, nil
}

// catalog returns the catalog of a type, listing its packages the first
// time.
func (pl *planning) catalog(typ string) (*catalog, error) {
	if cat, ok := pl.catalogs[typ]; ok {
		return cat, nil
	}
	ps, err := pl.src.Packages(pl.ctx, typ)
	if err != nil {
		return nil, fmt.Errorf("upgrade: listing %s packages: %w", typ, err)
	}
	// The list is ours to sort and keep (see pkgsource.Source).
	for _, p := range ps {
		if p.Type != typ {
			return nil, fmt.Errorf("upgrade: listing %s packages: source returned %w", typ, &pkgsource.PackageError{ // named by the type asked for: the one returned may be hostile
				Package: pkgsource.Key{Type: typ, Version: p.Version}, Err: fmt.Errorf("%w: type %q, want %q", pkgsource.ErrInvalid, p.Type, typ)})
		}
		// Validate refuses what would reach steps and plans unsafe: types
		// outside the safe set, a location JSON cannot hold.
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("upgrade: listing %s packages: %w", typ, err)
		}
	}
	// Requirements in one order, whatever the source's, so that the plan
	// (its ID, its errors) does not change when an index is republished
	// with them reordered. They may be the source's own: sort a copy.
	for i := range ps {
		if !slices.IsSortedFunc(ps[i].Requires, compareRequirements) {
			ps[i].Requires = slices.Clone(ps[i].Requires)
			slices.SortFunc(ps[i].Requires, compareRequirements)
		}
	}
	slices.SortFunc(ps, pkgsource.Compare)
	for i := 1; i < len(ps); i++ {
		if ps[i].Version.Same(ps[i-1].Version) { // "18.04" and "18.4.0" are one version, sorted together
			return nil, fmt.Errorf("upgrade: listing %s packages: %w", typ, &pkgsource.PackageError{
				Package: ps[i].Key(), Err: fmt.Errorf("%w: version %q listed twice, also as %q: a source lists each version once",
					pkgsource.ErrInvalid, ps[i].Version.String(), ps[i-1].Version.String())})
		}
	}
	cat := newCatalog(ps)
	pl.catalogs[typ] = cat
	return cat, nil
}

// checkCycle reports a cycle when the last package of via requires a type
// already on the way: its own type or that of a package above.
func checkCycle(via []*pkgsource.Package, typ string) error {
	i := onWay(via, typ)
	if i < 0 {
		return nil
	}
	return &CycleError{Requirements: true, Path: cyclePath(via, i, (*pkgsource.Package).String, typ)}
}

// cyclePath returns the names of the steps of a walk's path from the i-th
// on, and last, which leads back to the i-th: the cycle the walk met.
func cyclePath[T any](path []T, i int, name func(T) string, last string) []string {
	out := make([]string, 0, len(path)-i+1)
	for _, p := range path[i:] {
		out = append(out, name(p))
	}
	return append(out, last)
}

func nodeName(id topology.NodeID) string { return string(id) }

// onWay returns the index in via of the first package of type typ, or -1.
func onWay(via []*pkgsource.Package, typ string) int {
	return slices.IndexFunc(via, func(p *pkgsource.Package) bool { return p.Type == typ })
}
