package upgrade

import (
	"cmp"
	"container/heap"
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
type Planner struct {
	topo topology.Topology
	src  pkgsource.Source
	cfg  config
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
// Policy, one that every request, every co-tenant (the other nodes that run
// on or need it) and every package above it allows. A platform node that
// several requests need gets one set of steps that satisfies them all. The
// Requires of the chosen packages are planned in turn on the nodes beneath,
// to any depth. Each node of a replaced template gets an Application step
// after the platform steps beneath it, and each platform step comes after
// the steps of the platform nodes beneath its node.
//
// Errors are typed (see the sentinels of this package and
// topology.ErrNotFound) and name the request, node or package at fault.
func (p *Planner) PlanAll(ctx context.Context, reqs ...Request) (*Plan, error) {
	if len(reqs) == 0 {
		return nil, &RequestError{Field: "requests", Reason: "no request"}
	}
	if err := validateRequests(reqs); err != nil {
		return nil, err
	}
	reqs = cloneRequests(reqs)
	pl := &planning{Planner: p, ctx: ctx,
		nodes: map[topology.NodeID]*nodeInfo{}, apps: map[topology.AppID]*topology.Application{},
		pkgs: map[string][]pkgsource.Package{}, platforms: map[topology.NodeID]*platform{},
		replaced: map[topology.NodeID]*replacement{}, heights: map[topology.NodeID]int{},
		templates: map[topology.TemplateID]*topology.Template{}, checks: map[checkKey]bool{}, fits: map[int][]int{}, signatures: map[string]int{},
		reaches: map[reachKey]*reach{}}
	for i := range reqs {
		if err := pl.gather(&reqs[i], i); err != nil {
			return nil, err
		}
	}
	// Decide platform nodes from the top of the stacks down, so that every
	// demand a package places on a node beneath is known before that node
	// is decided.
	for pl.queue.Len() > 0 {
		pf := heap.Pop(&pl.queue).(*platform)
		if err := pl.decide(pf); err != nil {
			return nil, err
		}
	}
	plan := &Plan{Requests: reqs}
	if err := pl.assemble(plan); err != nil {
		return nil, err
	}
	id, err := planID(plan)
	if err != nil {
		return nil, err
	}
	plan.ID = id
	return plan, nil
}

func validateRequests(reqs []Request) error {
	seen := map[[2]string]int{}
	for i, r := range reqs {
		bad := func(field, reason string) error { return &RequestError{Request: i, Field: field, Reason: reason} }
		switch {
		case r.Application == "":
			return bad("Application", "empty")
		case r.Replaces == "":
			return bad("Replaces", "empty")
		case r.Template.ID == "":
			return bad("Template.ID", "empty")
		case r.Template.Version.IsZero():
			return bad("Template.Version", fmt.Sprintf("template %q has no version", r.Template.ID))
		}
		key := [2]string{string(r.Application), string(r.Replaces)}
		if j, dup := seen[key]; dup {
			return bad("Replaces", fmt.Sprintf("template %q of application %q is already replaced by request #%d", r.Replaces, r.Application, j+1))
		}
		seen[key] = i
		for k, req := range r.Template.Requirements {
			if req.Template == "" {
				return bad(fmt.Sprintf("Template.Requirements[%d].Template", k), "empty")
			}
		}
	}
	return nil
}

// planning is the state of one PlanAll call.
type planning struct {
	*Planner
	ctx        context.Context
	nodes      map[topology.NodeID]*nodeInfo
	apps       map[topology.AppID]*topology.Application
	pkgs       map[string][]pkgsource.Package // by type, ascending version
	platforms  map[topology.NodeID]*platform
	replaced   map[topology.NodeID]*replacement
	heights    map[topology.NodeID]int // -1 while being computed
	templates  map[topology.TemplateID]*topology.Template
	checks     map[checkKey]bool
	fits       map[int][]int       // by signature; see fitting
	signatures map[string]int      // see signature
	reaches    map[reachKey]*reach // see path
	queue      platformQueue
	walks      uint64 // walks made by beneath
}

type nodeInfo struct {
	node     topology.Node
	template *topology.Template
	seen     uint64    // the last walk that reached it (see beneath)
	platform *platform // when something is demanded of it
}

// platform is a platform node that something needs something of.
type platform struct {
	*nodeInfo
	height  int
	demands []Demand
	origins map[int]bool // of the requests' demands; see demand
	sig     int          // see signature; set once demands are complete
	// via lists the packages whose requirements led here, outermost first.
	via []pkgsource.Key

	// The decision.
	decided    bool
	path       []pkgsource.Package
	cotenants  []Demand
	binding    []*Demand // the co-tenant demands that ruled out a version
	candidates []Candidate
}

// replacement is an application node that a request replaces.
type replacement struct {
	*nodeInfo
	request int // its index in the requests
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
	t, ok := pl.templates[n.Template]
	if !ok {
		if t, err = pl.topo.Template(pl.ctx, n.Template); err != nil {
			return nil, err
		}
		pl.templates[n.Template] = t
	}
	info := &nodeInfo{node: *n, template: t}
	if info.node.Version.IsZero() {
		info.node.Version = t.Version
	}
	pl.nodes[id] = info
	return info, nil
}

// beneath returns the nodes reachable from id through relationships, in
// breadth-first order, that match: the walk does not go past a matching
// node.
func (pl *planning) beneath(id topology.NodeID, match func(*nodeInfo) bool) ([]*nodeInfo, error) {
	start, err := pl.node(id)
	if err != nil {
		return nil, err
	}
	var found []*nodeInfo
	// A walk marks the nodes it has seen with its own number, so that no
	// walk needs a fresh set.
	pl.walks++
	start.seen = pl.walks
	queue := []*nodeInfo{start}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, r := range n.node.Relationships {
			t, err := pl.node(r.Target)
			if err != nil {
				return nil, err
			}
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
	return found, nil
}

// height returns the length of the longest chain of relationships down from
// id. A node is always higher than every node beneath it.
func (pl *planning) height(id topology.NodeID, path []topology.NodeID) (int, error) {
	switch h, ok := pl.heights[id]; {
	case ok && h >= 0:
		return h, nil
	case ok:
		i := slices.Index(path, id)
		cycle := make([]string, 0, len(path)-i+1)
		for _, n := range path[i:] {
			cycle = append(cycle, string(n))
		}
		return 0, &CycleError{Path: append(cycle, string(id))}
	}
	n, err := pl.node(id)
	if err != nil {
		return 0, err
	}
	pl.heights[id] = -1
	h := 0
	for _, r := range n.node.Relationships {
		below, err := pl.height(r.Target, append(path, id))
		if err != nil {
			return 0, err
		}
		h = max(h, below+1)
	}
	pl.heights[id] = h
	return h, nil
}

// demand records d on platform node n, queueing n to be decided.
//
// origin identifies a request's requirement (request index << 20 +
// requirement index), the same for all the nodes a request replaces, so
// that it is recorded once per platform node cheaply; -1 for a package's
// demand, deduplicated by its content.
func (pl *planning) demand(n *nodeInfo, d Demand, via []pkgsource.Key, origin int) error {
	pf := n.platform
	if pf == nil {
		h, err := pl.height(n.node.ID, nil)
		if err != nil {
			return err
		}
		pf = &platform{nodeInfo: n, height: h, via: via}
		n.platform = pf
		pl.platforms[n.node.ID] = pf
		heap.Push(&pl.queue, pf)
	}
	if pf.decided {
		// Unreachable: demands flow down only, and nodes are decided
		// from the top down.
		return fmt.Errorf("upgrade: internal error: new demand on node %s after it was decided", n.node.ID)
	}
	if origin >= 0 {
		if pf.origins == nil {
			pf.origins = map[int]bool{}
		}
		if !pf.origins[origin] {
			pf.origins[origin] = true
			pf.demands = append(pf.demands, d)
		}
		return nil
	}
	if !slices.ContainsFunc(pf.demands, func(o Demand) bool { return o.key() == d.key() }) {
		pf.demands = append(pf.demands, d)
	}
	return nil
}

// gather records the application nodes r replaces and the demands r places
// on the platform nodes beneath them.
func (pl *planning) gather(r *Request, index int) error {
	app, err := pl.application(r.Application)
	if err != nil {
		return err
	}
	if _, ok := app.Template(r.Replaces); !ok {
		return &topology.NotFoundError{Kind: "template", ID: fmt.Sprintf("%s (in application %s)", r.Replaces, r.Application)}
	}
	var targets []*topology.Node
	for i := range app.Nodes {
		if app.Nodes[i].Template == r.Replaces {
			targets = append(targets, &app.Nodes[i])
		}
	}
	slices.SortFunc(targets, func(a, b *topology.Node) int { return cmp.Compare(a.ID, b.ID) })
	if len(targets) == 0 {
		return &MissingNodeError{App: r.Application, Template: r.Replaces}
	}
	replaced, _ := app.Template(r.Replaces)
	for _, n := range targets {
		// The application came with its nodes: no need to ask for each.
		info := pl.nodes[n.ID]
		if info == nil {
			info = &nodeInfo{node: *n, template: replaced}
			info.node.App = r.Application
			if info.node.Version.IsZero() {
				info.node.Version = replaced.Version
			}
			pl.nodes[n.ID] = info
		}
		pl.replaced[n.ID] = &replacement{nodeInfo: info, request: index}
		for k, req := range r.Template.Requirements {
			found, err := pl.beneath(n.ID, func(c *nodeInfo) bool { return c.node.Template == req.Template })
			if err != nil {
				return err
			}
			if len(found) == 0 {
				return &MissingNodeError{App: r.Application, Template: req.Template, Beneath: n.ID}
			}
			d := Demand{Constraint: req.Constraint, App: r.Application, Template: r.Template.ID, Version: r.Template.Version}
			for _, f := range found {
				if err := pl.demand(f, d, nil, index<<20+k); err != nil {
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
	if pl.allow(pf.demands, pf.node.Version) {
		return nil
	}
	var err error
	if pf.cotenants, err = pl.cotenants(pf); err != nil {
		return err
	}
	pkgs, err := pl.packages(pf.template.Type)
	if err != nil {
		return err
	}
	if pf.path, pf.candidates, err = pl.choose(pf, pkgs); err != nil {
		return err
	}
	if pl.cfg.logger != nil {
		pl.cfg.logger.Debug("upgrade: platform node planned", "node", pf.node.ID,
			"from", pf.node.Version, "to", pf.path[len(pf.path)-1].Version, "hops", len(pf.path))
	}
	for _, p := range pf.path {
		via := append(slices.Clone(pf.via), p.Key())
		for _, r := range p.Requires {
			if err := checkCycle(via, r.Type); err != nil {
				return err
			}
			found, err := pl.beneath(pf.node.ID, func(n *nodeInfo) bool { return n.template.Type == r.Type })
			if err != nil {
				return err
			}
			if len(found) == 0 {
				return &MissingNodeError{App: pf.node.App, Type: r.Type, Beneath: pf.node.ID, Package: p.String()}
			}
			d := Demand{Constraint: r.Constraint, App: pf.node.App, Node: pf.node.ID, Package: p.String()}
			for _, f := range found {
				if err := pl.demand(f, d, via, -1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkCycle reports a cycle when the last package of via requires a type
// already on the way: its own type or that of a package above.
func checkCycle(via []pkgsource.Key, typ string) error {
	for i, k := range via {
		if k.Type == typ {
			path := make([]string, 0, len(via)-i+1)
			for _, v := range via[i:] {
				path = append(path, v.String())
			}
			return &CycleError{Path: append(path, typ)}
		}
	}
	return nil
}

// cotenants returns the demands of the nodes that run on or need pf, other
// than those being replaced, that state a constraint.
func (pl *planning) cotenants(pf *platform) ([]Demand, error) {
	deps, err := pl.topo.Dependents(pl.ctx, pf.node.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Demand, 0, len(deps))
	for _, d := range deps {
		if pl.replaced[d.Node] == nil && !d.Constraint.IsZero() {
			out = append(out, Demand{Constraint: d.Constraint, App: d.App, Template: d.Template, Node: d.Node})
		}
	}
	sortDemands(out)
	return slices.CompactFunc(out, func(a, b Demand) bool { return a.key() == b.key() }), nil
}

// sortDemands sorts co-tenant demands by constraint, so that equal
// constraints are checked once (see firstRejecting), then by node.
func sortDemands(ds []Demand) {
	slices.SortFunc(ds, func(a, b Demand) int {
		return cmp.Or(cmp.Compare(a.Constraint.String(), b.Constraint.String()),
			cmp.Compare(a.App, b.App), cmp.Compare(a.Node, b.Node), cmp.Compare(a.Template, b.Template))
	})
}

func (pl *planning) packages(typ string) ([]pkgsource.Package, error) {
	if ps, ok := pl.pkgs[typ]; ok {
		return ps, nil
	}
	ps, err := pl.src.Packages(pl.ctx, typ)
	if err != nil {
		return nil, fmt.Errorf("upgrade: listing %s packages: %w", typ, err)
	}
	ps = slices.Clone(ps)
	for i, p := range ps {
		if p.Type != typ {
			return nil, fmt.Errorf("upgrade: listing %s packages: source returned %w", typ, &pkgsource.PackageError{
				Package: p.Key(), Err: fmt.Errorf("%w: type %q, want %q", pkgsource.ErrInvalid, p.Type, typ)})
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("upgrade: listing %s packages: %w", typ, err)
		}
		ps[i].Requires = slices.Clone(p.Requires)
	}
	slices.SortFunc(ps, pkgsource.Compare)
	for i := 1; i < len(ps); i++ {
		if ps[i].Version == ps[i-1].Version {
			return nil, fmt.Errorf("upgrade: listing %s packages: %w", typ, &pkgsource.PackageError{
				Package: ps[i].Key(), Err: fmt.Errorf("%w: listed twice", pkgsource.ErrInvalid)})
		}
	}
	pl.pkgs[typ] = ps
	return ps, nil
}

// allows reports whether c allows v, remembering the answer: a plan asks
// the same question of many nodes, and a failed check costs the
// constraint library an error value.
func (pl *planning) allows(c version.Constraint, v version.Version) bool {
	if c.IsZero() {
		return true
	}
	k := checkKey{constraint: c.String(), version: v.String()}
	ok, seen := pl.checks[k]
	if !seen {
		ok = c.Allows(v)
		pl.checks[k] = ok
	}
	return ok
}

type checkKey struct{ constraint, version string }

func (pl *planning) allow(ds []Demand, v version.Version) bool {
	return pl.firstRejecting(ds, v) == nil
}

// firstRejecting returns the first demand that does not allow v, or nil.
// Demands with the same constraint are checked once.
func (pl *planning) firstRejecting(ds []Demand, v version.Version) *Demand {
	for i := range ds {
		if i > 0 && ds[i].Constraint.String() == ds[i-1].Constraint.String() {
			continue // sorted runs of one constraint, as co-tenants often are
		}
		if !pl.allows(ds[i].Constraint, v) {
			return &ds[i]
		}
	}
	return nil
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

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// platformQueue pops the highest platform node first, then by ID.
type platformQueue []*platform

func (q platformQueue) Len() int { return len(q) }
func (q platformQueue) Less(i, j int) bool {
	return cmp.Or(cmp.Compare(q[j].height, q[i].height), cmp.Compare(q[i].node.ID, q[j].node.ID)) < 0
}
func (q platformQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *platformQueue) Push(x any)   { *q = append(*q, x.(*platform)) }
func (q *platformQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
