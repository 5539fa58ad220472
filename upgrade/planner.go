package upgrade

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// Policy says which satisfying version the planner picks for a platform
// node. Whatever the policy, ties between versions that compare equal are
// broken by their text, so the choice is deterministic.
type Policy uint8

const (
	// Newest picks the highest satisfying version. It is the default.
	Newest Policy = iota
	// Nearest picks the least change that satisfies, like Go's minimal
	// version selection: the lowest satisfying version above the installed
	// one (for a downgrade, the highest below it).
	Nearest
	// LatestPatch picks the highest patch release of the nearest
	// satisfying minor version, as Kubernetes advises for its upgrades.
	LatestPatch
)

func (p Policy) String() string {
	switch p {
	case Newest:
		return "newest"
	case Nearest:
		return "nearest"
	case LatestPatch:
		return "latest patch"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// Option configures a Planner.
type Option func(*config)

type config struct {
	policy         Policy
	allowDowngrade bool
	maxMinorStep   int // 0: no limit
	logger         *slog.Logger
}

// WithPolicy sets the version selection policy. The default is Newest.
func WithPolicy(p Policy) Option { return func(c *config) { c.policy = p } }

// AllowDowngrades lets the planner lower a platform node's version when
// that is the only way to meet a requirement. Without it such a node fails
// the plan with a *DowngradeError.
func AllowDowngrades() Option { return func(c *config) { c.allowDowngrade = true } }

// WithMaxMinorStep limits how many minor versions one upgrade hop may
// advance within a major version, as kubeadm allows one minor version per
// upgrade. Rather than refuse a longer jump, the planner goes through
// intermediate versions: 1.26 → 1.27 → 1.28 with n = 1. Hops to another
// major version are governed by the packages' From constraints only. n < 1
// means no limit, the default.
func WithMaxMinorStep(n int) Option { return func(c *config) { c.maxMinorStep = max(n, 0) } }

// WithLogger makes the planner log its decisions at debug level. By default
// it logs nothing.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Planner turns upgrade requests into plans. It only reads its Topology and
// Source; it changes nothing. A Planner is safe for concurrent use if its
// Topology and Source are.
//
// Keep a Planner for as long as its Topology and Source: it remembers,
// across its plans, which versions the constraints it has met allow (by
// their text, and per list of a type's versions while the Source lists the
// same ones), so that later plans need not ask again. What it remembers
// changes no plan, and is bounded to a few tens of megabytes. (A program
// that changes the package-level switches of Masterminds/semver, which
// change what constraints allow, should make a new Planner after.)
type Planner struct {
	topo        topology.Topology
	src         pkgsource.Source
	cfg         config
	memo        checkMemo
	catalogMemo catalogMemo
}

// NewPlanner returns a Planner reading deployments from t and packages from
// s. It panics if t or s is nil.
func NewPlanner(t topology.Topology, s pkgsource.Source, opts ...Option) *Planner {
	if t == nil || s == nil {
		panic("upgrade: NewPlanner needs a Topology and a Source")
	}
	p := &Planner{topo: t, src: s}
	for _, o := range opts {
		o(&p.cfg)
	}
	return p
}

// Plan plans one request. See PlanAll.
func (p *Planner) Plan(ctx context.Context, r Request) (*Plan, error) {
	return p.PlanAll(ctx, r)
}

// PlanAll plans several requests into one plan.
//
// For every requirement of every request's new template, it finds beneath
// each node of the replaced template the platform nodes of the required
// template, following relationships down the stack (not past a node of the
// required template). A platform node whose installed version meets every
// demand on it is recorded as a satisfied Check. Any other gets one
// Platform step per package on the shortest way to a version chosen by the
// Policy, one that every request, every co-tenant and every package above
// it allows. A co-tenant is a node, in any application, that runs on or
// needs it, directly or through any number of nodes between, and whose
// template requires its template (not through another node of that
// template); its constraint is that requirement's, and it must allow
// every version the node passes through. Nodes being replaced are no
// co-tenants (a warning says when their old template's requirement breaks
// until their own step). The topology's Dependents are walked up once per
// plan, or a topology.AboveLister is asked. A platform node that
// several requests need gets one set of steps that satisfies them all. The
// Requires of the chosen packages are planned in turn on the nodes beneath,
// to any depth. Each node of a replaced template gets an Application step
// after the platform steps beneath it, and each platform step comes after
// the steps of the platform nodes beneath its node.
//
// Errors are typed (see the sentinels of this package and
// topology.ErrNotFound) and name the request, node or package at fault.
//
// Every identifier is checked against the safe set of topology.CheckID
// before it can reach a step: those of the requests before the topology or
// the source is asked anything (a *RequestError wrapping the
// *topology.IDError), and those the topology returns (nodes, templates,
// types, relationship targets, dependents) and the types a package
// requires, as they arrive (a *topology.Error or *pkgsource.PackageError
// wrapping it). All match topology.ErrInvalidID.
func (p *Planner) PlanAll(ctx context.Context, reqs ...Request) (*Plan, error) {
	if len(reqs) == 0 {
		return nil, &RequestError{Field: "requests", Reason: "no request"}
	}
	replacing, err := validateRequests(reqs)
	if err != nil {
		return nil, err
	}
	reqs = cloneRequests(reqs)
	pl := &planning{Planner: p, ctx: ctx,
		nodes: map[topology.NodeID]*nodeInfo{}, apps: make(map[topology.AppID]*topology.Application, len(reqs)),
		catalogs: map[string]*catalog{}, replacedTemplates: replacing, requests: reqs,
		templates: map[topology.TemplateID]*topology.Template{}, checks: map[checkKey]bool{}, fits: map[int][]int{}, signatures: map[string]int{},
		reaches: map[reachKey]*reach{}, hops: map[int]*hops{}, candidateLists: map[candidatesKey][]candidateList{}, breaks: map[breakKey]bool{}}
	defer func() { // failed plans learn too
		pl.memo.publish(pl.checks)
		pl.catalogMemo.publish(pl.catalogs)
	}()
	for i := range reqs {
		if err := pl.gather(&reqs[i], i); err != nil {
			return nil, err
		}
	}
	// Decide platform nodes from the top of the stacks down, so that every
	// demand a package places on a node beneath is known before that node
	// is decided: a node is higher than every node beneath it. Nodes of
	// one height go in the order of their IDs, so that the first error
	// is always the same.
	for h := len(pl.byHeight) - 1; h >= 0; h-- {
		level := pl.byHeight[h]
		slices.SortFunc(level, func(a, b *platform) int { return cmp.Compare(a.node.ID, b.node.ID) })
		for _, pf := range level {
			if err := pl.decide(pf); err != nil {
				return nil, err
			}
		}
	}
	plan := &Plan{Requests: reqs}
	if err := pl.assemble(plan); err != nil {
		return nil, err
	}
	plan.ID = planID(plan)
	return plan, nil
}

// validateRequests checks the requests, and returns the request index of
// each application template they replace.
func validateRequests(reqs []Request) (map[appTemplate]int, error) {
	seen := make(map[appTemplate]int, len(reqs))
	for i, r := range reqs {
		bad := func(field, reason string) error { return &RequestError{Request: i, Field: field, Reason: reason} }
		switch {
		case r.Application == "":
			return nil, bad("Application", "empty")
		case r.Replaces == "":
			return nil, bad("Replaces", "empty")
		case r.Template.ID == "":
			return nil, bad("Template.ID", "empty")
		case r.Template.Version.IsZero():
			return nil, bad("Template.Version", fmt.Sprintf("template %q has no version", r.Template.ID))
		}
		badID := func(field, kind, id string) error {
			if err := topology.CheckID(kind, id); err != nil {
				return &RequestError{Request: i, Field: field, Err: err}
			}
			return nil
		}
		if err := cmp.Or(
			badID("Application", "application", string(r.Application)),
			badID("Replaces", "template", string(r.Replaces)),
			badID("Template.ID", "template", string(r.Template.ID)),
		); err != nil {
			return nil, err
		}
		if r.Template.Type != "" {
			if err := badID("Template.Type", "type", r.Template.Type); err != nil {
				return nil, err
			}
		}
		for k, req := range r.Template.Requirements {
			if req.Name == "" {
				continue
			}
			if err := topology.CheckID("requirement name", req.Name); err != nil {
				return nil, &RequestError{Request: i, Field: fmt.Sprintf("Template.Requirements[%d].Name", k), Err: err}
			}
		}
		key := appTemplate{r.Application, r.Replaces}
		if j, dup := seen[key]; dup {
			return nil, bad("Replaces", fmt.Sprintf("template %q of application %q is already replaced by request #%d", r.Replaces, r.Application, j+1))
		}
		seen[key] = i
		if n := len(r.Template.Requirements); n >= originSpan {
			return nil, bad("Template.Requirements", fmt.Sprintf("%d requirements, more than %d", n, originSpan-1))
		}
		for k, req := range r.Template.Requirements {
			if req.Template == "" {
				return nil, bad(fmt.Sprintf("Template.Requirements[%d].Template", k), "empty")
			}
			if err := topology.CheckID("template", string(req.Template)); err != nil {
				return nil, &RequestError{Request: i, Field: fmt.Sprintf("Template.Requirements[%d].Template", k), Err: err}
			}
		}
	}
	return seen, nil
}

// appTemplate names a template of an application.
type appTemplate struct {
	app      topology.AppID
	template topology.TemplateID
}

// planning is the state of one PlanAll call.
type planning struct {
	*Planner
	ctx   context.Context
	nodes map[topology.NodeID]*nodeInfo // looked up by ID; not the replaced nodes gather makes (see replacedNode)
	// replacedByID indexes the nodes being replaced once a relationship
	// leads to one.
	replacedByID      map[topology.NodeID]*nodeInfo
	apps              map[topology.AppID]*topology.Application
	catalogs          map[string]*catalog // by type
	replaced          []*replacement      // the application nodes replaced, in the order met
	requests          []Request           // the plan's; see requirement
	replacedTemplates map[appTemplate]int // by the request that replaces it
	heightPath        []topology.NodeID   // the nodes whose height is being worked out
	templates         map[topology.TemplateID]*topology.Template
	checks            map[checkKey]bool                 // learned by this plan; see allows
	fits              map[int][]int                     // by signature; see fitting
	signatures        map[string]int                    // see signature
	reaches           map[reachKey]*reach               // see distances
	hops              map[int]*hops                     // by path signature; see hopsTo
	byHeight          [][]*platform                     // the platform nodes by height
	candidateLists    map[candidatesKey][]candidateList // see verdicts
	breaks            map[breakKey]bool                 // see mayBreak
	walks             uint64                            // walks made by beneath
	// The upward walk for co-tenants (see above): each node's dependents
	// asked for once, the templates of the nodes met, and what lies above
	// each node per template, once worked out.
	dependentsOf   map[topology.NodeID][]topology.Dependent
	aboveTemplates map[topology.TemplateID]*topology.Template
	aboveMemo      map[aboveKey]aboveEntry
	abovePath      []topology.NodeID // the nodes being worked out, bottom first
	aboveCount     int               // entries of aboveMemo

	// Where the plan's small strings and slices come from; see arena.
	text         arena
	nodeSlab     slab[nodeInfo]
	nodeCopies   slab[topology.Node] // of nodes that lack App or Version
	platformSlab slab[platform]
	replacements slab[replacement]
	nodeLists    slab[*nodeInfo]
	stepIDs      slab[StepID]
	demandSlab   slab[Demand]
	vias         slab[*pkgsource.Package]
	paths        slab[*pkgsource.Package]
	candidates   slab[Candidate]
	setLists     slab[*allowSet]
	indices      slab[int32]
	bitLists     slab[uint64]

	// Scratch lists, reused from call to call.
	walkQueue    []*nodeInfo          // by beneath
	walkFound    []*nodeInfo          // by beneath
	verdictBuf   []verdict            // by verdicts
	constraints  []version.Constraint // by unmetRequirement
	sets         []*allowSet          // by unmetRequirement
	scratch      []int32              // by hopsTo
	signatureBuf []byte               // by sign
}

type nodeInfo struct {
	node     *topology.Node // read-only: it may be the topology's own
	template *topology.Template
	seen     uint64      // the last walk that reached it (see beneath)
	platform *platform   // when something is demanded of it
	below    []*nodeInfo // the nodes of its relationships, once looked up
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
	origins        []int
	packageDemands []Demand
	sig            int // see signature; set once demands are complete
	pathSig        int // see pathSignature
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
	// The catalog of the node's type, and the allowSets of the demands'
	// and co-tenants' constraints, index for index.
	cat          *catalog
	demandSets   []*allowSet
	cotenantSets []*allowSet
	installedAt  int // the index of the installed version in cat, or -1
	firstAbove   int // the index of the lowest version above it in cat
	candidates   []Candidate
	steps        []StepID // the IDs of its steps, once there are some,
	lastIndex    int      // and the index of the last in the plan's steps
}

// lastStep returns the ID of pf's last step.
func (pf *platform) lastStep() StepID { return pf.steps[len(pf.steps)-1] }

// replacement is an application node that a request replaces.
type replacement struct {
	*nodeInfo
	request int // its index in the requests
	// current says that the node is on the new template's version
	// already: a satisfied check, not a step.
	current bool
}

func (pl *planning) application(id topology.AppID) (*topology.Application, error) {
	if a, ok := pl.apps[id]; ok {
		return a, nil
	}
	a, err := pl.topo.Application(pl.ctx, id)
	if err != nil {
		return nil, err
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
	if err := checkNode(n); err != nil {
		return nil, err
	}
	t, ok := pl.templates[n.Template]
	if !ok {
		if t, err = pl.topo.Template(pl.ctx, n.Template); err != nil {
			return nil, err
		}
		if err := topology.CheckID("type", t.Type); err != nil {
			return nil, topologyIDError(fmt.Sprintf("template %q", n.Template), err)
		}
		pl.templates[n.Template] = t
	}
	var info *nodeInfo
	replaced := pl.replaces(n.App, n.Template)
	if replaced {
		info = pl.replacedNode(id)
	}
	if info == nil {
		if n.Version.IsZero() { // the topology's own: complete a copy
			c := pl.nodeCopies.one()
			*c = *n
			c.Version = t.Version
			n = c
		}
		info = pl.nodeSlab.one()
		*info = nodeInfo{node: n, template: t}
		if pl.replacedByID != nil && replaced {
			pl.replacedByID[id] = info // for gather, which comes to it later
		}
	}
	pl.nodes[id] = info
	return info, nil
}

// checkNode refuses a node, from the caller's topology, whose identifiers
// are outside the safe set: they would reach steps, plans and executors.
func checkNode(n *topology.Node) error {
	err := cmp.Or(topology.CheckID("node", string(n.ID)), topology.CheckID("template", string(n.Template)))
	if err == nil && n.App != "" {
		err = topology.CheckID("application", string(n.App))
	}
	if err != nil {
		return topologyIDError(fmt.Sprintf("node %q", n.ID), err)
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
	found := pl.walkFound[:0]
	// A walk marks the nodes it has seen with its own number, so that no
	// walk needs a fresh set.
	pl.walks++
	start.seen = pl.walks
	queue := append(pl.walkQueue[:0], start)
	for head := 0; head < len(queue); head++ {
		below, err := pl.below(queue[head])
		if err != nil {
			return nil, err
		}
		for _, t := range below {
			if t.seen == pl.walks {
				continue
			}
			t.seen = pl.walks
			if match(t) {
				found = append(found, t)
				continue
			}
			queue = append(queue, t)
		}
	}
	pl.walkQueue, pl.walkFound = queue, found
	return found, nil
}

// below returns the nodes n has relationships to, looking them up the
// first time.
func (pl *planning) below(n *nodeInfo) ([]*nodeInfo, error) {
	if n.below == nil && len(n.node.Relationships) > 0 {
		below := pl.nodeLists.take(len(n.node.Relationships))
		for i, r := range n.node.Relationships {
			t, err := pl.node(r.Target)
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
		i := slices.Index(pl.heightPath, n.node.ID)
		cycle := make([]string, 0, len(pl.heightPath)-i+1)
		for _, id := range pl.heightPath[i:] {
			cycle = append(cycle, string(id))
		}
		return 0, &CycleError{Path: append(cycle, string(n.node.ID))}
	}
	n.heightState = heightWorking
	pl.heightPath = append(pl.heightPath, n.node.ID)
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
	pl.heightPath = pl.heightPath[:len(pl.heightPath)-1]
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
// what led there (see platform.via).
func (pl *planning) platformOf(n *nodeInfo, via []*pkgsource.Package) (*platform, error) {
	pf := n.platform
	if pf == nil {
		if _, err := pl.height(n); err != nil {
			return nil, err
		}
		pf = pl.platformSlab.one()
		*pf = platform{nodeInfo: n, via: via}
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
	return pf, nil
}

// demandOrigin records on n the demand of a request's requirement, by its
// origin (see originSpan): the same for all the
// nodes a request replaces, so that it is recorded once per platform node
// cheaply. The demand itself is made when n is decided (see demands).
func (pl *planning) demandOrigin(n *nodeInfo, origin int) error {
	pf, err := pl.platformOf(n, nil)
	if err != nil {
		return err
	}
	// Requests come in order: only the latest request's origins can be
	// there already.
	for i := len(pf.origins) - 1; i >= 0 && pf.origins[i]/originSpan == origin/originSpan; i-- {
		if pf.origins[i] == origin {
			return nil
		}
	}
	pf.origins = append(pf.origins, origin)
	return nil
}

// demandPackage records on n a package's demand d, once.
func (pl *planning) demandPackage(n *nodeInfo, d Demand, via []*pkgsource.Package) error {
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
	pf.packageDemands = append(pf.packageDemands, d)
	return nil
}

// demands returns the demands on pf in the order they came: the requests',
// all placed before any node is decided, then the packages'. Requests'
// demands are kept as their origins until then: a platform node that a
// whole fleet runs on has one from every request.
func (pl *planning) demands(pf *platform) []Demand {
	ds := pl.demandSlab.take(len(pf.origins) + len(pf.packageDemands))[:len(pf.origins)]
	for i, o := range pf.origins {
		r := &pl.requests[o/originSpan]
		ds[i] = Demand{Constraint: pl.requirement(o).Constraint, App: r.Application,
			Template: r.Template.ID, Version: r.Template.Version}
	}
	return append(ds, pf.packageDemands...)
}

// originSpan packs a request's requirement into one int, an origin: the
// request's index times originSpan plus the requirement's index.
// validateRequests refuses a template with originSpan requirements or more.
const originSpan = 1 << 20

// requirement returns the requirement of a request that an origin names.
func (pl *planning) requirement(origin int) *topology.Requirement {
	return &pl.requests[origin/originSpan].Template.Requirements[origin%originSpan]
}

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
// on the platform nodes beneath them.
func (pl *planning) gather(r *Request, index int) error {
	app, err := pl.application(r.Application)
	if err != nil {
		return err
	}
	replaced, ok := app.Template(r.Replaces)
	if !ok {
		return &topology.NotFoundError{Kind: "template", ID: string(r.Replaces), App: r.Application}
	}
	var targets []*topology.Node
	if err := topology.CheckID("type", replaced.Type); err != nil {
		return topologyIDError(fmt.Sprintf("template %q", replaced.ID), err)
	}
	for i := range app.Nodes {
		if app.Nodes[i].Template == r.Replaces {
			if err := checkNode(&app.Nodes[i]); err != nil {
				return err
			}
			targets = append(targets, &app.Nodes[i])
		}
	}
	slices.SortFunc(targets, func(a, b *topology.Node) int { return cmp.Compare(a.ID, b.ID) })
	if len(targets) == 0 {
		return &MissingNodeError{App: r.Application, Template: r.Replaces}
	}
	for _, n := range targets {
		// The application came with its nodes: no need to ask for each.
		info := pl.replacedByID[n.ID] // nil until a relationship leads to a replaced node
		if info == nil {
			// The topology's own: a node without its App or Version is
			// copied to be completed.
			if n.App != r.Application || n.Version.IsZero() {
				c := pl.nodeCopies.one()
				*c = *n
				c.App = r.Application
				if c.Version.IsZero() {
					c.Version = replaced.Version
				}
				n = c
			}
			info = pl.nodeSlab.one()
			*info = nodeInfo{node: n, template: replaced}
			if pl.replacedByID != nil {
				pl.replacedByID[n.ID] = info
			}
		}
		rep := pl.replacements.one()
		*rep = replacement{nodeInfo: info, request: index}
		switch c := n.Version.Compare(r.Template.Version); {
		case c == 0:
			rep.current = true
		case c > 0 && !pl.cfg.allowDowngrade:
			return &DowngradeError{Node: n.ID, Type: replaced.Type, Installed: n.Version,
				Demands: []Demand{requestDemand(r)}, Candidates: []version.Version{r.Template.Version}}
		}
		pl.replaced = append(pl.replaced, rep)
		for k, req := range r.Template.Requirements {
			found, err := pl.beneath(info, func(c *nodeInfo) bool { return c.node.Template == req.Template })
			if err != nil {
				return err
			}
			if len(found) == 0 {
				return pl.missing(r.Application, req.Template, info)
			}
			for _, f := range found {
				if err := pl.demandOrigin(f, index*originSpan+k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// decide leaves pf as it is when it meets every demand, or chooses the
// packages that bring it to a version every demand and co-tenant allows,
// and passes their requirements on to the nodes beneath.
func (pl *planning) decide(pf *platform) error {
	pf.decided = true
	pf.demands = pl.demands(pf)
	if pl.allow(pf.demands, pf.node.Version) {
		return nil
	}
	var err error
	if pf.cotenants, err = pl.cotenants(pf); err != nil {
		return err
	}
	if pf.cat, err = pl.catalog(pf.template.Type); err != nil {
		return err
	}
	pf.demandSets, pf.cotenantSets = pl.setsOf(pf.cat, pf.demands), pl.setsOf(pf.cat, pf.cotenants)
	pf.installedAt, pf.firstAbove = pf.cat.locate(pf.node.Version)
	if pf.path, pf.candidates, err = pl.choose(pf); err != nil {
		return err
	}
	if pl.cfg.logger != nil {
		pl.cfg.logger.Debug("upgrade: platform node planned", "node", pf.node.ID,
			"from", pf.node.Version, "to", pf.path[len(pf.path)-1].Version, "hops", len(pf.path))
	}
	for _, p := range pf.path {
		via := pl.vias.take(len(pf.via) + 1)
		via[copy(via, pf.via)] = p
		name := pl.text.join(p.Type, " ", p.Version.String()) // as p.String()
		for _, r := range p.Requires {
			if err := checkCycle(via, r.Type); err != nil {
				return err
			}
			found, err := pl.beneath(pf.nodeInfo, func(n *nodeInfo) bool { return n.template.Type == r.Type })
			if err != nil {
				return err
			}
			if len(found) == 0 {
				return &MissingNodeError{App: pf.node.App, Type: r.Type, Beneath: pf.node.ID, Package: name}
			}
			d := Demand{Constraint: r.Constraint, App: pf.node.App, Node: pf.node.ID, Package: name}
			for _, f := range found {
				if err := pl.demandPackage(f, d, via); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkCycle reports a cycle when the last package of via requires a type
// already on the way: its own type or that of a package above.
func checkCycle(via []*pkgsource.Package, typ string) error {
	i := onWay(via, typ)
	if i < 0 {
		return nil
	}
	path := make([]string, 0, len(via)-i+1)
	for _, v := range via[i:] {
		path = append(path, v.String())
	}
	return &CycleError{Requirements: true, Path: append(path, typ)}
}

// onWay returns the index in via of the first package of type typ, or -1.
func onWay(via []*pkgsource.Package, typ string) int {
	return slices.IndexFunc(via, func(p *pkgsource.Package) bool { return p.Type == typ })
}

// cotenants returns, for each constraint that the nodes running on or
// needing pf place on it (other than the nodes being replaced), one demand
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
	if listing { // no walk up will ask again
		deps, err = pl.topo.Dependents(pl.ctx, pf.node.ID)
	} else {
		deps, err = pl.dependents(pf.node.ID)
	}
	if err != nil {
		return nil, err
	}
	pf.dependents = deps
	var out []Demand
	last := 0 // the group of the previous dependent: runs are common
	for i := range deps {
		d := &deps[i]
		if d.Constraint.IsZero() || last < len(out) && out[last].Constraint.String() == d.Constraint.String() {
			continue
		}
		if g := cotenantGroup(out, d.Constraint); g >= 0 {
			last = g
		} else if !pl.replaces(d.App, d.Template) { // a constraint met before needs no such check
			if err := checkDependent(pf, i); err != nil {
				return nil, err
			}
			last = len(out)
			out = append(out, Demand{Constraint: d.Constraint, App: d.App, Template: d.Template, Node: d.Node})
		}
	}
	// Those further up: one demand per constraint, the one that names
	// the least co-tenant, so that naming them needs no walk.
	add := func(a Demand) {
		if g := cotenantGroup(out, a.Constraint); g < 0 {
			out = append(out, a)
		} else if compareDemands(a, out[g]) < 0 {
			out[g] = a
		}
	}
	t := pf.node.Template
	if listing {
		if pf.above, err = al.Above(pl.ctx, pf.node.ID); err != nil {
			return nil, err
		}
		pf.aboveListed = true
		for i := range pf.above {
			d := &pf.above[i]
			if d.Constraint.IsZero() || pl.replaces(d.App, d.Template) {
				continue
			}
			if err := cmp.Or(topology.CheckID("application", string(d.App)), topology.CheckID("node", string(d.Node)),
				topology.CheckID("template", string(d.Template))); err != nil {
				return nil, topologyIDError(fmt.Sprintf("node #%d above node %q", i+1, pf.node.ID), err)
			}
			add(Demand{Constraint: d.Constraint, App: d.App, Template: d.Template, Node: d.Node})
		}
		sortDemands(out)
		return out, nil
	}
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
			return nil, err
		}
		for _, a := range above {
			add(a)
		}
	}
	sortDemands(out)
	return out, nil
}

// dependents returns the topology's Dependents of node id, asking once per
// plan.
func (pl *planning) dependents(id topology.NodeID) ([]topology.Dependent, error) {
	if deps, ok := pl.dependentsOf[id]; ok {
		return deps, nil
	}
	deps, err := pl.topo.Dependents(pl.ctx, id)
	if err != nil {
		return nil, err
	}
	if pl.dependentsOf == nil {
		pl.dependentsOf = map[topology.NodeID][]topology.Dependent{}
	}
	pl.dependentsOf[id] = deps
	return deps, nil
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
	if e, ok := pl.aboveMemo[key]; ok {
		if e.working {
			i := slices.Index(pl.abovePath, id)
			cycle := make([]string, 0, len(pl.abovePath)-i+1)
			for _, n := range pl.abovePath[i:] {
				cycle = append(cycle, string(n))
			}
			slices.Reverse(cycle) // the way relationships point: down
			return nil, &CycleError{Path: append([]string{string(id)}, cycle...)}
		}
		return e.demands, nil
	}
	if deps, ok := pl.dependentsOf[id]; ok && len(deps) == 0 {
		return nil, nil // nothing above, whatever the template: no need to remember it
	}
	if len(pl.abovePath) >= maxAboveDepth || pl.aboveCount >= maxAbove {
		return nil, fmt.Errorf("upgrade: the topology returned %w", &topology.Error{Item: fmt.Sprintf("node %q", id),
			Err: fmt.Errorf("%w: more than %d nodes above it, or more than %d in all, by its Dependents", topology.ErrInvalid, maxAboveDepth, maxAbove)})
	}
	if pl.aboveMemo == nil {
		pl.aboveMemo = map[aboveKey]aboveEntry{}
	}
	pl.aboveMemo[key] = aboveEntry{working: true}
	pl.aboveCount++
	pl.abovePath = append(pl.abovePath, id)
	deps, err := pl.dependents(id)
	if err != nil {
		return nil, err
	}
	var out []Demand
	add := func(a Demand) {
		if g := cotenantGroup(out, a.Constraint); g < 0 {
			out = append(out, a)
		} else if compareDemands(a, out[g]) < 0 {
			out[g] = a
		}
	}
	for i := range deps {
		d := &deps[i]
		if i > 0 && deps[i-1].Node == d.Node && deps[i-1].Template == d.Template {
			continue
		}
		if err := pl.checkWalked(d, i, id); err != nil {
			return nil, err
		}
		if !pl.replaces(d.App, d.Template) {
			tmpl, err := pl.aboveTemplate(d.Template)
			if err != nil {
				return nil, err
			}
			checked := false
			for _, r := range tmpl.Requirements {
				if r.Template != t || r.Constraint.IsZero() {
					continue
				}
				if !checked {
					if err := cmp.Or(topology.CheckID("application", string(d.App)), topology.CheckID("node", string(d.Node)),
						topology.CheckID("template", string(d.Template))); err != nil {
						return nil, topologyIDError(fmt.Sprintf("dependent #%d of node %q", i+1, id), err)
					}
					checked = true
				}
				add(Demand{Constraint: r.Constraint, App: d.App, Template: d.Template, Node: d.Node})
			}
		}
		if d.Template == t {
			continue // not past a node of t
		}
		up, err := pl.above(d.Node, t)
		if err != nil {
			return nil, err
		}
		for _, a := range up {
			add(a)
		}
	}
	pl.abovePath = pl.abovePath[:len(pl.abovePath)-1]
	pl.aboveMemo[key] = aboveEntry{demands: out}
	return out, nil
}

// checkWalked refuses dependent i of node id when the identifiers the walk
// up passes back to the topology, its node's and its template's, lie
// outside the safe set: a host may look them up in a store of its own. A
// node the walk cannot pass could hide co-tenants above it, so the plan
// fails rather than skip it. A node whose Dependents were asked for, and
// a template looked up, were checked before.
func (pl *planning) checkWalked(d *topology.Dependent, i int, id topology.NodeID) error {
	if _, ok := pl.dependentsOf[d.Node]; !ok {
		if err := topology.CheckID("node", string(d.Node)); err != nil {
			return topologyIDError(fmt.Sprintf("dependent #%d of node %q", i+1, id), err)
		}
	}
	return pl.checkTemplate(d, i, id)
}

// checkTemplate refuses the template of dependent i of node id when it lies
// outside the safe set, unless it was looked up before.
func (pl *planning) checkTemplate(d *topology.Dependent, i int, id topology.NodeID) error {
	if _, ok := pl.aboveTemplates[d.Template]; ok {
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

// aboveTemplate returns a template met on the way up, looking it up once.
func (pl *planning) aboveTemplate(id topology.TemplateID) (*topology.Template, error) {
	if t, ok := pl.templates[id]; ok {
		return t, nil
	}
	if t, ok := pl.aboveTemplates[id]; ok {
		return t, nil
	}
	if pl.aboveCount >= maxAbove {
		return nil, fmt.Errorf("upgrade: the topology returned %w", &topology.Error{Item: fmt.Sprintf("template %q", id),
			Err: fmt.Errorf("%w: more than %d nodes and templates above the platform nodes, by its Dependents", topology.ErrInvalid, maxAbove)})
	}
	t, err := pl.topo.Template(pl.ctx, id)
	if err != nil {
		return nil, err
	}
	if pl.aboveTemplates == nil {
		pl.aboveTemplates = map[topology.TemplateID]*topology.Template{}
	}
	pl.aboveTemplates[id] = t
	pl.aboveCount++
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
		if d.Constraint.IsZero() || pl.replaces(d.App, d.Template) {
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
// that cotenants found (see above), each once per constraint.
func (pl *planning) allCotenants(pf *platform) ([]Demand, error) {
	var out []Demand
	for i, d := range pf.dependents {
		if !d.Constraint.IsZero() && !pl.replaces(d.App, d.Template) {
			if err := checkDependent(pf, i); err != nil {
				return nil, err
			}
			out = append(out, Demand{Constraint: d.Constraint, App: d.App, Template: d.Template, Node: d.Node})
		}
	}
	if pf.aboveListed {
		for _, d := range pf.above {
			if !d.Constraint.IsZero() && !pl.replaces(d.App, d.Template) {
				out = append(out, Demand{Constraint: d.Constraint, App: d.App, Template: d.Template, Node: d.Node})
			}
		}
		sortDemands(out)
		return slices.CompactFunc(out, func(a, b Demand) bool { return sameDemand(&a, &b) }), nil
	}
	// Up from the dependents, through what cotenants asked already.
	t := pf.node.Template
	seen := map[topology.NodeID]bool{pf.node.ID: true}
	var queue []topology.NodeID
	for _, d := range pf.dependents {
		if d.Template != t && !seen[d.Node] {
			seen[d.Node] = true
			queue = append(queue, d.Node)
		}
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, d := range pl.dependentsOf[id] {
			if seen[d.Node] {
				continue
			}
			seen[d.Node] = true
			if d.Template != t { // not past a node of t
				queue = append(queue, d.Node)
			}
			if pl.replaces(d.App, d.Template) {
				continue
			}
			tmpl, err := pl.aboveTemplate(d.Template)
			if err != nil {
				return nil, err
			}
			for _, r := range tmpl.Requirements {
				if r.Template == t && !r.Constraint.IsZero() {
					out = append(out, Demand{Constraint: r.Constraint, App: d.App, Template: d.Template, Node: d.Node})
				}
			}
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
	d := &pf.dependents[i]
	if err := cmp.Or(topology.CheckID("application", string(d.App)), topology.CheckID("node", string(d.Node)),
		topology.CheckID("template", string(d.Template))); err != nil {
		return topologyIDError(fmt.Sprintf("dependent #%d of node %q", i+1, pf.node.ID), err)
	}
	return nil
}

// replaces reports whether a request replaces the nodes of template t in
// application app.
func (pl *planning) replaces(app topology.AppID, t topology.TemplateID) bool {
	_, ok := pl.replacedTemplates[appTemplate{app, t}]
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
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("upgrade: listing %s packages: %w", typ, err)
		}
		for _, r := range p.Requires {
			if err := topology.CheckID("package type", r.Type); err != nil {
				return nil, fmt.Errorf("upgrade: listing %s packages: source returned %w", typ, &pkgsource.PackageError{
					Package: p.Key(), Err: fmt.Errorf("%w: %w", pkgsource.ErrInvalid, err)})
			}
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
				Package: ps[i].Key(), Err: fmt.Errorf("%w: listed twice", pkgsource.ErrInvalid)})
		}
	}
	cat := newCatalog(typ, ps, &pl.catalogMemo)
	pl.catalogs[typ] = cat
	return cat, nil
}

// allow reports whether every demand allows v. A constraint already found
// to allow v is not looked up again: a platform node that many requests
// need has as many demands, and few constraints.
func (pl *planning) allow(ds []Demand, v version.Version) bool {
	var allowing [8]string
	n := 0
next:
	for i := range ds {
		c := ds[i].Constraint.String()
		for _, a := range allowing[:n] {
			if a == c {
				continue next
			}
		}
		if !pl.allows(ds[i].Constraint, v) {
			return false
		}
		if n < len(allowing) {
			allowing[n], n = c, n+1
		}
	}
	return true
}

func cloneRequests(reqs []Request) []Request {
	out := slices.Clone(reqs)
	for i := range out {
		out[i].Template = *cloneTemplate(&out[i].Template)
	}
	return out
}

func cloneTemplate(t *topology.Template) *topology.Template {
	c := *t
	c.Requirements = slices.Clone(t.Requirements)
	return &c
}
