package upgrade

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade/internal/dag"
	"github.com/stackup/stackup/version"
)

// Policy says which satisfying version the planner picks for a platform
// node.
type Policy uint8

const (
	// Newest picks the highest satisfying version. It is the default.
	Newest Policy = iota
	// Nearest picks the least change that satisfies: the lowest satisfying
	// version above the installed one (or, for a downgrade, the highest
	// below it).
	Nearest
)

func (p Policy) String() string {
	switch p {
	case Newest:
		return "newest"
	case Nearest:
		return "nearest"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// Option configures a Planner.
type Option func(*config)

type config struct {
	policy         Policy
	allowDowngrade bool
	logger         *slog.Logger
}

// WithPolicy sets the version selection policy. The default is Newest.
func WithPolicy(p Policy) Option { return func(c *config) { c.policy = p } }

// AllowDowngrades lets the planner lower a platform node's version when
// that is the only way to meet a requirement. Without it such a node fails
// the plan with a *DowngradeError.
func AllowDowngrades() Option { return func(c *config) { c.allowDowngrade = true } }

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
	if p.cfg.logger == nil {
		p.cfg.logger = slog.New(slog.DiscardHandler)
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
// each node of the replaced template the platform node of the required
// template, following relationships down the stack. A platform node whose
// installed version already meets every demand on it is recorded as a
// satisfied Check. Any other gets one Platform step per package installed
// on the way to a version chosen by the Policy, one that meets the demands
// of every request and of every other node that runs on it (co-tenants).
// Then each node of the replaced template gets an Application step that
// comes after the platform steps beneath it.
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
	pl := &planning{ctx: ctx, Planner: p,
		nodes: map[topology.NodeID]*nodeInfo{}, apps: map[topology.AppID]*topology.Application{},
		pkgs: map[string][]pkgsource.Package{}, platforms: map[topology.NodeID]*platform{},
		replaced: map[topology.NodeID]*replacement{}}
	for i := range reqs {
		if err := pl.gather(&reqs[i]); err != nil {
			return nil, err
		}
	}
	plan := &Plan{Requests: slices.Clone(reqs)}
	for _, id := range sortedKeys(pl.platforms) {
		if err := pl.decide(pl.platforms[id], plan); err != nil {
			return nil, err
		}
	}
	if err := pl.order(plan); err != nil {
		return nil, err
	}
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
	ctx       context.Context
	nodes     map[topology.NodeID]*nodeInfo
	apps      map[topology.AppID]*topology.Application
	pkgs      map[string][]pkgsource.Package // by type, ascending version
	platforms map[topology.NodeID]*platform
	replaced  map[topology.NodeID]*replacement
}

type nodeInfo struct {
	node     topology.Node
	template *topology.Template
}

// platform is a platform node that some request needs something of.
type platform struct {
	*nodeInfo
	demands  []Demand
	required []topology.TemplateID // the requirement's new template, per demand
	above    []*replacement        // the replaced nodes that run on it
	steps    []StepID              // its hops, in order, once decided
}

// replacement is an application node that a request replaces.
type replacement struct {
	*nodeInfo
	request *Request
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
	a, err := pl.application(n.App)
	if err != nil {
		return nil, err
	}
	t, ok := a.Template(n.Template)
	if !ok {
		return nil, &topology.NotFoundError{Kind: "template", ID: string(n.Template)}
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
	seen := map[topology.NodeID]bool{id: true}
	queue := []*nodeInfo{start}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, r := range n.node.Relationships {
			if seen[r.Target] {
				continue
			}
			seen[r.Target] = true
			t, err := pl.node(r.Target)
			if err != nil {
				return nil, err
			}
			if match(t) {
				found = append(found, t)
				continue
			}
			queue = append(queue, t)
		}
	}
	return found, nil
}

// gather records the application nodes r replaces and the demands r places
// on the platform nodes beneath them.
func (pl *planning) gather(r *Request) error {
	app, err := pl.application(r.Application)
	if err != nil {
		return err
	}
	if _, ok := app.Template(r.Replaces); !ok {
		return &topology.NotFoundError{Kind: "template", ID: fmt.Sprintf("%s (in application %s)", r.Replaces, r.Application)}
	}
	targets := app.NodesOf(r.Replaces)
	if len(targets) == 0 {
		return &MissingNodeError{App: r.Application, Template: r.Replaces}
	}
	by := fmt.Sprintf("%s@%s (%s)", r.Template.ID, r.Template.Version, r.Application)
	for _, n := range targets {
		info, err := pl.node(n.ID)
		if err != nil {
			return err
		}
		rep := &replacement{nodeInfo: info, request: r}
		pl.replaced[n.ID] = rep
		for _, req := range r.Template.Requirements {
			found, err := pl.beneath(n.ID, func(c *nodeInfo) bool { return c.node.Template == req.Template })
			if err != nil {
				return err
			}
			if len(found) == 0 {
				return &MissingNodeError{App: r.Application, Template: req.Template, Beneath: n.ID}
			}
			for _, f := range found {
				pf := pl.platforms[f.node.ID]
				if pf == nil {
					pf = &platform{nodeInfo: f}
					pl.platforms[f.node.ID] = pf
				}
				d := Demand{Constraint: req.Constraint, By: by}
				if !slices.ContainsFunc(pf.demands, d.same) {
					pf.demands = append(pf.demands, d)
					pf.required = append(pf.required, r.Template.ID)
				}
				if !slices.Contains(pf.above, rep) {
					pf.above = append(pf.above, rep)
				}
			}
		}
	}
	return nil
}

func (d Demand) same(o Demand) bool {
	return d.By == o.By && d.Constraint.String() == o.Constraint.String()
}

// decide records a satisfied check for pf, or plans the steps that bring it
// to a version every demand on it allows.
func (pl *planning) decide(pf *platform, plan *Plan) error {
	installed := pf.node.Version
	if allow(pf.demands, installed) {
		for i, d := range pf.demands {
			plan.Satisfied = append(plan.Satisfied, Check{Node: pf.node.ID, Template: pf.node.Template,
				Version: installed, Constraint: d.Constraint, RequiredBy: pf.required[i]})
		}
		return nil
	}
	cotenants, err := pl.cotenants(pf)
	if err != nil {
		return err
	}
	pkgs, err := pl.packages(pf.template.Type)
	if err != nil {
		return err
	}
	path, err := pl.choose(pf, pkgs, cotenants)
	if err != nil {
		return err
	}
	pl.cfg.logger.Debug("upgrade: platform node planned", "node", pf.node.ID, "from", installed, "to", path[len(path)-1].Version, "hops", len(path))
	var unmet []string
	for _, d := range pf.demands {
		if !d.Constraint.Allows(installed) {
			unmet = append(unmet, fmt.Sprintf("%s requires %s %s", d.By, pf.node.Template, d.Constraint))
		}
	}
	why := fmt.Sprintf("%s; node %s has %s", strings.Join(unmet, " and "), pf.node.ID, installed)
	from := installed
	for i, pkg := range path {
		s := Step{ID: platformStepID(pf.node.ID, pkg.Version), Kind: Platform,
			App: pf.node.App, Node: pf.node.ID, Template: pf.node.Template, Type: pf.template.Type,
			From: from, To: pkg.Version, Package: &path[i], Reason: why}
		if len(path) > 1 {
			s.Reason = fmt.Sprintf("hop %d of %d to %s: %s", i+1, len(path), path[len(path)-1].Version, why)
		}
		if i > 0 {
			s.After = []StepID{pf.steps[i-1]}
		}
		pf.steps = append(pf.steps, s.ID)
		plan.Steps = append(plan.Steps, s)
		from = pkg.Version
	}
	pl.warnOldRequirements(pf, path, plan)
	return nil
}

// warnOldRequirements warns when a version pf passes through breaks what a
// replaced node's old template asks of it: until that node's own step runs,
// it runs on a platform its template does not allow.
func (pl *planning) warnOldRequirements(pf *platform, path []pkgsource.Package, plan *Plan) {
	for _, rep := range pf.above {
		for _, req := range rep.template.Requirements {
			if req.Template != pf.node.Template {
				continue
			}
			for _, pkg := range path {
				if !req.Constraint.Allows(pkg.Version) {
					plan.Warnings = append(plan.Warnings, fmt.Sprintf(
						"node %s (%s %s) requires %s %s; it runs on %s %s from step %s until its own step",
						rep.node.ID, rep.template.ID, rep.node.Version, req.Template, req.Constraint,
						pf.node.ID, pkg.Version, platformStepID(pf.node.ID, pkg.Version)))
					break
				}
			}
		}
	}
}

// cotenants returns the demands of the nodes that run on or need pf, other
// than those being replaced, that state a constraint.
func (pl *planning) cotenants(pf *platform) ([]Demand, error) {
	deps, err := pl.topo.Dependents(pl.ctx, pf.node.ID)
	if err != nil {
		return nil, err
	}
	var out []Demand
	for _, d := range deps {
		if pl.replaced[d.Node] != nil || d.Constraint.IsZero() {
			continue
		}
		dm := Demand{Constraint: d.Constraint, By: fmt.Sprintf("node %s (%s)", d.Node, d.App)}
		if !slices.ContainsFunc(out, dm.same) {
			out = append(out, dm)
		}
	}
	slices.SortFunc(out, func(a, b Demand) int {
		return cmp.Or(cmp.Compare(a.By, b.By), cmp.Compare(a.Constraint.String(), b.Constraint.String()))
	})
	return out, nil
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
	slices.SortFunc(ps, func(a, b pkgsource.Package) int {
		return cmp.Or(a.Version.Compare(b.Version), cmp.Compare(a.Version.String(), b.Version.String()))
	})
	pl.pkgs[typ] = ps
	return ps, nil
}

func allow(ds []Demand, v version.Version) bool {
	for _, d := range ds {
		if !d.Constraint.Allows(v) {
			return false
		}
	}
	return true
}

// order adds the edges of the plan and sorts its steps: a platform step
// comes after the steps of the platform nodes beneath its node, and each
// replaced node's application step after the steps of every platform node
// beneath it.
func (pl *planning) order(plan *Plan) error {
	stepped := func(n *nodeInfo) bool { pf := pl.platforms[n.node.ID]; return pf != nil && len(pf.steps) > 0 }
	lastSteps := func(id topology.NodeID) ([]StepID, error) {
		var after []StepID
		err := pl.walk(id, func(n *nodeInfo) {
			if stepped(n) {
				steps := pl.platforms[n.node.ID].steps
				after = append(after, steps[len(steps)-1])
			}
		})
		return after, err
	}
	index := make(map[StepID]int, len(plan.Steps))
	for i, s := range plan.Steps {
		index[s.ID] = i
	}
	for _, id := range sortedKeys(pl.platforms) {
		pf := pl.platforms[id]
		if len(pf.steps) == 0 {
			continue
		}
		after, err := lastSteps(id)
		if err != nil {
			return err
		}
		first := &plan.Steps[index[pf.steps[0]]]
		first.After = append(first.After, after...)
	}
	for _, id := range sortedKeys(pl.replaced) {
		rep := pl.replaced[id]
		after, err := lastSteps(id)
		if err != nil {
			return err
		}
		r := rep.request
		plan.Steps = append(plan.Steps, Step{
			ID: StepID(fmt.Sprintf("app/%s@%s", id, r.Template.Version)), Kind: Application,
			App: r.Application, Node: id, Template: rep.node.Template, Type: rep.template.Type,
			From: rep.node.Version, To: r.Template.Version, NewTemplate: cloneTemplate(&r.Template), After: after,
			Reason: fmt.Sprintf("%s@%s replaces %s %s", r.Template.ID, r.Template.Version, rep.template.ID, rep.node.Version),
		})
	}
	return sortSteps(plan)
}

// walk calls fn for every node reachable from id through relationships,
// id excluded, each once.
func (pl *planning) walk(id topology.NodeID, fn func(*nodeInfo)) error {
	_, err := pl.beneath(id, func(n *nodeInfo) bool { fn(n); return false })
	return err
}

// sortSteps sorts every After list and puts the steps in the deterministic
// topological order: among steps that are ready, platform before
// application, then by ID.
func sortSteps(plan *Plan) error {
	for i := range plan.Steps {
		plan.Steps[i].After = slices.Compact(slices.Sorted(slices.Values(plan.Steps[i].After)))
	}
	slices.SortFunc(plan.Steps, func(a, b Step) int { return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID)) })
	ordered, err := topoSort(plan.Steps)
	if err != nil {
		return err
	}
	plan.Steps = ordered
	return nil
}

// topoSort returns steps in topological order, ties broken by their order
// in the slice, or an error matching ErrInvalidPlan.
func topoSort(steps []Step) ([]Step, error) {
	index := make(map[StepID]int, len(steps))
	for i, s := range steps {
		if _, dup := index[s.ID]; dup {
			return nil, fmt.Errorf("upgrade: %w: duplicate step ID %s", ErrInvalidPlan, s.ID)
		}
		index[s.ID] = i
	}
	deps := make([][]int, len(steps))
	for i, s := range steps {
		for _, a := range s.After {
			j, ok := index[a]
			if !ok {
				return nil, fmt.Errorf("upgrade: %w: step %s comes after unknown step %s", ErrInvalidPlan, s.ID, a)
			}
			deps[i] = append(deps[i], j)
		}
	}
	order, cycle := dag.Order(len(steps), func(i int) []int { return deps[i] })
	if cycle != nil {
		ids := make([]string, len(cycle))
		for i, c := range cycle {
			ids[i] = string(steps[c].ID)
		}
		return nil, fmt.Errorf("upgrade: %w: steps form a cycle: %s", ErrInvalidPlan, strings.Join(ids, " → "))
	}
	out := make([]Step, len(steps))
	for i, j := range order {
		out[i] = steps[j]
	}
	return out, nil
}

func platformStepID(node topology.NodeID, to version.Version) StepID {
	return StepID(fmt.Sprintf("platform/%s@%s", node, to))
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
