package upgrade

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"unicode/utf8"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// Policy says which satisfying version the planner picks for a platform
// node. Whatever the policy, ties between versions that compare equal
// (builds of one version, such as v1.28.2+k3s9 and +k3s10) are broken as
// version.CompareStrict orders them, the later build the newer, so the
// choice is deterministic.
type Policy uint8

const (
	// Newest picks the highest satisfying version. It is the default.
	Newest Policy = iota
	// Nearest picks the least change that satisfies, like Go's minimal
	// version selection: the lowest satisfying version above the installed
	// one (for a downgrade, the highest below it); of the builds of that
	// version, the earliest, as ties are broken above.
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
	passOver       []passedOver // see replan
}

// WithPolicy sets the version selection policy. The default is Newest.
func WithPolicy(p Policy) Option { return func(c *config) { c.policy = p } }

// AllowDowngrades lets the planner lower a platform node's version when
// that is the only way to meet a requirement. Without it such a node fails
// the plan with a *DowngradeError. As an upgrade does, a downgrade goes
// through released intermediate versions when no package installs the
// target over the installed version: 7.4.1 → 7.3.0 → 7.2.6.
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
// A Planner keeps nothing from one plan to the next: plans of the same
// inputs are the same whatever came before.
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
// template that the node runs on, following its hosted_on relationships down
// the stack, or when no node there is of the required template, every
// relationship (a database it depends on); not past a node of the required
// template. A node that a request of the batch moves to a template of a new
// ID answers a requirement on that ID, as it will be; a requirement on the
// ID it leaves is refused (a *RequestError naming both requests), as no node
// would be of it once the plan has run; of the node's co-tenants (see
// below), whose templates require that ID too, the plan warns. A platform
// node whose installed version meets every demand on it is recorded as a
// satisfied Check. Any other gets one Platform step per package on the
// shortest way, through released versions, to a version chosen by the
// Policy, one that every request, every co-tenant and every package above it
// allows. A co-tenant is a node, in any application, that runs on or needs
// it, directly or through any number of nodes between, and whose template
// requires its template (not through another node of that template); its
// constraint is that requirement's, and it must allow every version the node
// passes through. Nodes being replaced are no co-tenants (a warning says
// when their old template's requirement breaks until their own step), but
// they have co-tenants of their own: those of a node a request replaces must
// allow the new template's version, as they must a platform step's. The
// topology's Dependents are walked up once per plan, or a
// topology.AboveLister is asked; a topology.DependentsLister is asked once
// per application rather than once per node. A platform node that several
// requests need gets one set of steps that satisfies them all. The Requires
// of the chosen packages are planned in turn on the nodes beneath, to any
// depth. Each platform node is decided once, from the top of the stacks
// down, looking one level down for what its packages require, along with
// what the nodes there are asked already and what the nodes beside it,
// decided or not, will surely ask of them; when the plan then fails on a
// node beneath because of what the packages chosen above ask of it, it is
// made again passing over each of those packages in turn (at most 8 plans
// more), and the error, when none succeeds, is the first plan's, which says,
// when the planner stopped with packages left to pass over, that a plan may
// exist. Each node of a replaced template gets an Application step after the
// platform steps beneath it, but for one that runs the new template's
// version already, which is a satisfied Check (one above it is a downgrade);
// and each platform step comes after the steps of the platform nodes beneath
// its node.
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
	if p.cfg.policy > LatestPatch {
		return nil, fmt.Errorf("upgrade: WithPolicy(%v): %w: use Newest, Nearest or LatestPatch", p.cfg.policy, ErrInvalidOption)
	}
	replacing, err := validateRequests(reqs)
	if err != nil {
		return nil, err
	}
	reqs = cloneRequests(reqs)
	plan, pl, err := p.plan(ctx, reqs, replacing)
	if err != nil {
		return p.replan(ctx, reqs, replacing, pl, err)
	}
	return plan, nil
}

// plan plans the requests, checked and cloned. When it fails, it returns
// what it had decided, for replan; nil when ordering the steps failed,
// by which time that state is let go (see below).
func (p *Planner) plan(ctx context.Context, reqs []Request, replacing map[appTemplate]int) (*Plan, *planning, error) {
	// Three stages: gather (gather.go, cotenants.go) finds the nodes the
	// requests replace and the platform nodes beneath them, with the
	// demands on each; decide (decide.go, catalog.go) chooses each
	// platform node's path and passes its packages' requirements down;
	// assemble (assemble.go) makes the steps and their edges, and
	// orderSteps their order.
	pl := &planning{Planner: p, ctx: ctx, requests: reqs, replacing: replacing,
		nodes: map[topology.NodeID]*nodeInfo{}, apps: make(map[topology.AppID]*topology.Application, len(reqs)),
		templates: map[topology.TemplateID]*topology.Template{}, catalogs: map[string]*catalog{}}
	n, idBytes := pl.countTargets()
	pl.replaced = make([]replacement, 0, n)
	pl.stepIDs.Grow(idBytes)
	for i := range reqs {
		if err := pl.gather(&reqs[i], i); err != nil {
			return nil, pl, err
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
				return nil, pl, err
			}
		}
	}
	if err := pl.replacedCotenants(); err != nil {
		return nil, pl, err
	}
	plan := &Plan{Requests: reqs}
	g, err := pl.assemble(plan)
	if err != nil {
		return nil, pl, err
	}
	// The plan holds nothing of pl: its state, a fleet's worth, can be
	// collected while the steps are ordered.
	if err := orderSteps(plan.Steps, nil, g); err != nil {
		return nil, nil, err
	}
	plan.ID = planID(plan)
	return plan, nil, nil
}

// validateRequests checks the requests, and returns the request index of
// each application template they replace. Two requests of different
// applications may not give their new templates one new ID: a template
// belongs to one application, and a topology recording the run could not
// hold both (see targets). The map has a key per request, and one more
// per request whose new template has an ID of its own.
func validateRequests(reqs []Request) (map[appTemplate]int, error) {
	seen := make(map[appTemplate]int, len(reqs))
	var newIDs map[topology.TemplateID]int // the request of each new ID, made at the first
	for i := range reqs {
		r := &reqs[i]
		if err := validateRequest(i, r); err != nil {
			return nil, err
		}
		key := appTemplate{r.Application, r.Replaces}
		if j, dup := seen[key]; dup {
			return nil, &RequestError{Request: i, Field: "Replaces",
				Reason: fmt.Sprintf("template %q of application %q is already replaced by request #%d", r.Replaces, r.Application, j+1)}
		}
		seen[key] = i
		if renamed := (appTemplate{r.Application, r.Template.ID}); r.Template.ID != r.Replaces {
			// Nodes a run has moved to the new template are the
			// request's too (see targets).
			if j, dup := seen[renamed]; dup {
				return nil, &RequestError{Request: i, Field: "Template.ID",
					Reason: fmt.Sprintf("template %q of application %q is already replaced by request #%d", r.Template.ID, r.Application, j+1)}
			}
			seen[renamed] = i
			if newIDs == nil {
				newIDs = map[topology.TemplateID]int{}
			}
			if j, dup := newIDs[r.Template.ID]; dup { // of another application: of this one, seen says so
				return nil, &RequestError{Request: i, Field: "Template.ID",
					Reason: fmt.Sprintf("request #%d gives the new template of application %q the ID %q too, and a template belongs to one application: "+
						"give each application's new template an ID of its own", j+1, reqs[j].Application, r.Template.ID)}
			}
			newIDs[r.Template.ID] = i
		}
		if err := validateRequirements(i, r.Template.Requirements, false); err != nil {
			return nil, err
		}
	}
	return seen, nil
}

// validateRequest checks the fields of request i but for the templates
// its requirements name.
func validateRequest(i int, r *Request) error {
	bad := func(field, reason string) error { return &RequestError{Request: i, Field: field, Reason: reason} }
	switch {
	case r.Application == "":
		return bad("Application", "empty: give the ID of the application to upgrade, such as shop")
	case r.Replaces == "":
		return bad("Replaces", "empty: give the ID of the template whose nodes the new one replaces, such as shop_app")
	case r.Template.ID == "":
		return bad("Template.ID", "empty: give the new template an ID, that of the template it replaces when it keeps it")
	case r.Template.Version.IsZero():
		return bad("Template.Version", fmt.Sprintf("template %q has no version: give the version the new template deploys", r.Template.ID))
	}
	badID := func(field, kind, id string) error {
		if id == "" && field == "Template.Type" {
			return nil // a type is optional
		}
		if err := topology.CheckID(kind, id); err != nil {
			return &RequestError{Request: i, Field: field, Err: err}
		}
		return nil
	}
	return cmp.Or(
		badID("Application", "application", string(r.Application)),
		badID("Replaces", "template", string(r.Replaces)),
		badID("Template.ID", "template", string(r.Template.ID)),
		badID("Template.Type", "type", r.Template.Type),
		validateRequirements(i, r.Template.Requirements, true),
	)
}

// validateRequirements checks the names of request i's requirements,
// which may be empty, and their relations, free text in UTF-8; or their
// templates, which may not be empty.
func validateRequirements(i int, reqs []topology.Requirement, names bool) error {
	field, kind := "Template", "template"
	if names {
		field, kind = "Name", "requirement name"
	}
	for k, req := range reqs {
		id := string(req.Template)
		if names {
			id = req.Name
			if !utf8.ValidString(string(req.Relation)) { // free text, but JSON cannot hold it: the plan would not read back
				return &RequestError{Request: i, Field: fmt.Sprintf("Template.Requirements[%d].Relation", k), Reason: "not UTF-8"}
			}
		}
		if id == "" && names {
			continue
		}
		where := func() string { return fmt.Sprintf("Template.Requirements[%d].%s", k, field) }
		if id == "" {
			return &RequestError{Request: i, Field: where(), Reason: "empty: give the template of the platform the requirement is on, such as tomcat_server"}
		}
		if err := topology.CheckID(kind, id); err != nil {
			return &RequestError{Request: i, Field: where(), Err: err}
		}
	}
	return nil
}

// appTemplate names a template of an application.
type appTemplate struct {
	app      topology.AppID
	template topology.TemplateID
}

// cloneRequests copies the requests and their templates' requirements,
// these in one list: a fleet's plan has a request per application. Equal
// constraints become one: a platform node's demands are compared by their
// constraints' text, which then compares at once.
func cloneRequests(reqs []Request) []Request {
	out := slices.Clone(reqs)
	n := 0
	for i := range reqs {
		n += len(reqs[i].Template.Requirements)
	}
	all := make([]topology.Requirement, 0, n)
	constraints := map[string]version.Constraint{}
	for i := range out {
		rs := out[i].Template.Requirements
		if rs == nil {
			continue // nil stays nil
		}
		start := len(all)
		for _, r := range rs {
			if c, ok := constraints[r.Constraint.String()]; ok {
				r.Constraint = c
			} else {
				constraints[r.Constraint.String()] = r.Constraint
			}
			all = append(all, r)
		}
		out[i].Template.Requirements = all[start:len(all):len(all)]
	}
	return out
}

// maxReplans bounds how many times replan makes a plan again.
const maxReplans = 8

// passedOver is a package that a plan made again passes over on its node,
// as a plan with it failed on node failed (see replan), asking of a node
// of type typ on version installed: the failed node, or one that it kept
// in place (see keptBy); and with it every package that requires of typ
// what it does (see asksAlike): the next build of PostgreSQL 16 that needs
// RHEL 9 would fail as the first did.
type passedOver struct {
	Demand    // of the package: Node is the node, Package the package
	failed    topology.NodeID
	typ       string
	installed version.Version
}

// replan makes again a plan that failed, with err, on a platform node that
// the packages chosen for the nodes above it ask the impossible of. Nodes
// of one height are decided one after the other, each looking one level
// down: one may take a package whose requirement on a node beneath rules
// out what a package of another needs (JDK 21 an Ubuntu that the only
// Python 3.12 does not run on), where a lower version would have done. So
// the plan is made again passing over, on its node, each package that
// the error names in conflict in turn, or that kept in place a node that
// it names (see blamedPackages), and with it those that require the same
// of the node it asked of; when none makes a plan, the first whose plan's
// error names packages in turn stays passed over and those are tried with
// it, and when none of those leads on, the next: depth first, but of the
// ways on, the one whose error names the fewest packages first. At most
// maxReplans plans more in all: a plan that fails costs at most nine
// times one that succeeds. Plans that succeed at once are not made again,
// so they do not change; a plan that fails every time returns the first
// error, whatever the retries met, and says so when they stopped with
// ways on left to try (see gaveUpError).
func (p *Planner) replan(ctx context.Context, reqs []Request, replacing map[appTemplate]int, pl *planning, err error) (*Plan, error) {
	first := err
	// The ways on, each the packages passed over and those its plan's
	// error blames, last to try first: depth first, but for a way whose
	// error blames fewer packages, tried before. A retry whose error
	// blames packages in turn leads on; one whose node is left nothing to
	// install (a request's only Python build) leads nowhere. An error that
	// blames one package or two is near what is at fault (a runtime
	// left with one build to take names the server package that asks for
	// it); one that blames many spreads the tries over the builds of one
	// node, each asking a little else of the node beneath.
	type way struct{ passOver, blamed []passedOver }
	ways := []way{{nil, blamedPackages(err, nil, pl)}}
	for tries := 0; len(ways) > 0 && tries < maxReplans; {
		k := len(ways) - 1
		for i := k - 1; i >= 0; i-- {
			if len(ways[i].blamed) < len(ways[k].blamed) {
				k = i
			}
		}
		w := ways[k]
		ways = slices.Delete(ways, k, k+1)
		var on []way
		for _, b := range w.blamed {
			if tries == maxReplans {
				return nil, &gaveUpError{first}
			}
			tries++
			q := *p
			q.cfg.passOver = append(slices.Clip(w.passOver), b)
			plan, pl, err := q.plan(ctx, reqs, replacing)
			if err == nil {
				return plan, nil
			}
			if ctx.Err() != nil {
				return nil, err // cancelled: no more tries
			}
			if blamed := blamedPackages(err, q.cfg.passOver, pl); len(blamed) > 0 {
				on = append(on, way{q.cfg.passOver, blamed})
			}
		}
		slices.Reverse(on) // the first tried first
		ways = append(ways, on...)
	}
	if len(ways) > 0 {
		return nil, &gaveUpError{first}
	}
	return nil, first
}

// gaveUpError is the first error of a plan that replan stopped making again
// with ways on left to try (see maxReplans): a plan may exist, and the
// error says so. It unwraps to the first error, which errors.As finds as
// without it.
type gaveUpError struct{ err error }

func (e *gaveUpError) Error() string {
	return fmt.Sprintf("%v; made again %d times, passing over packages in conflict, the plan failed each time, and the planner stopped with others to pass over: "+
		"a plan may exist that it did not find; narrow the requests' demands to the versions you mean, or plan the requests one at a time", e.err, maxReplans)
}

func (e *gaveUpError) Unwrap() error { return e.err }

// failure returns what a planning error says of the node it failed on: the
// node, its type, the demands it names, how many of the first of these
// every version it names meets (those a *ConflictError wanted: the versions
// it tried are those they allow), the versions it names and the installed
// one; nothing for an error of another kind.
func failure(err error) (node topology.NodeID, typ string, named []Demand, given int, vs []version.Version, installed version.Version) {
	if e, ok := errors.AsType[*ConflictError](err); ok {
		return e.Node, e.Type, slices.Concat(e.Wanted, e.Blocking), len(e.Wanted), e.Tried, e.Installed
	} else if e, ok := errors.AsType[*NoPackageError](err); ok {
		return e.Node, e.Type, e.Demands, 0, e.Considered, e.Installed
	} else if e, ok := errors.AsType[*DowngradeError](err); ok {
		return e.Node, e.Type, e.Demands, 0, e.Candidates, e.Installed
	} else if e, ok := errors.AsType[*NoPathError](err); ok {
		return e.Node, e.Type, slices.Concat(e.Demands, e.Blocking), 0, e.Targets, e.Installed
	}
	return "", "", nil, 0, nil, version.Version{}
}

// blamedPackages returns the packages that err, a failure to decide a
// platform node, names in its demands, but those of passOver: those whose
// constraint no version the error names (and the installed one) meets
// along with another demand it names, or its own; then, when two such
// demands (or one) are not of those that every version named meets (see
// failure), the packages of these, in conflict with them as much: of
// Python 3.12, whose Ubuntus a conflict tried, and Node.js 22 and Ruby
// 3.3, each of which shares an Ubuntu with Python 3.12 and none with the
// other, Python 3.12 is no less to blame; or, when none is such, all of
// them. A package that conflicts with nothing, PostgreSQL 15.7's ">=8.6"
// among RHEL 9 builds and an agent's "<9", would cost a plan made again
// that changes nothing, and with it passed over for good, every later one.
//
// Last come the packages that kept in place a platform node whose
// template's requirement is among those blamed (see keptBy), as pl, the
// failed plan, decided it: those that asked of it what its version meets,
// and those taken for the nodes on it that ask nothing of its type.
func blamedPackages(err error, passOver []passedOver, pl *planning) []passedOver {
	failed, typ, named, given, vs, installed := failure(err)
	blamed, implicated := conflicting(named, given, append(slices.Clip(vs), installed))
	b := &blame{passOver: passOver, failed: failed}
	for i := range named {
		if blamed[i] {
			b.add(&named[i], typ, installed)
		}
	}
	if implicated {
		for i := range given {
			b.add(&named[i], typ, installed)
		}
	}
	if len(b.out) == 0 {
		for i := range named {
			blamed[i] = true
			b.add(&named[i], typ, installed)
		}
	}
	for i := range named {
		if n := pl.keptBy(&named[i]); blamed[i] && n != nil {
			b.keepers(pl, n)
		}
	}
	return b.out
}

// conflicting reports which of the named demands no version of vs meets
// along with another named demand, or alone; and whether two such (or
// one) are not among the first given ones, which every version of vs
// meets (see failure).
func conflicting(named []Demand, given int, vs []version.Version) (blamed []bool, implicated bool) {
	conflict := func(a, b *Demand) bool { // a and b may be one
		return !slices.ContainsFunc(vs, func(v version.Version) bool { return a.Constraint.Allows(v) && b.Constraint.Allows(v) })
	}
	blamed = make([]bool, len(named))
	for i := range named {
		for j := i; j < len(named); j++ {
			if conflict(&named[i], &named[j]) {
				blamed[i], blamed[j] = true, true
				implicated = implicated || i >= given
			}
		}
	}
	return blamed, implicated
}

// blame is the packages blamedPackages returns, in the order blamed, as a
// plan failed on node failed; none twice, none of passOver.
type blame struct {
	passOver []passedOver
	failed   topology.NodeID
	out      []passedOver
}

// add blames the package of demand d, which asks of a node of type typ
// on version installed; nothing for a demand of no package.
func (b *blame) add(d *Demand, typ string, installed version.Version) {
	same := func(p passedOver) bool {
		return p.Node == d.Node && (p.Package == d.Package || p.typ == typ && p.Constraint.String() == d.Constraint.String())
	}
	if d.Package != "" && !slices.ContainsFunc(b.passOver, same) && !slices.ContainsFunc(b.out, same) {
		b.out = append(b.out, passedOver{*d, b.failed, typ, installed})
	}
}

// keepers blames the packages that kept node n in place (see keptBy):
// those that asked of it what its version meets, and those taken for the
// nodes on it that ask nothing of its type.
func (b *blame) keepers(pl *planning, n *nodeInfo) {
	for k := range n.platform.demands {
		b.add(&n.platform.demands[k], n.template.Type, n.node.Version)
	}
	deps, _ := pl.dependents(n.node.ID) // on an error, there are fewer to blame: the plan failed already
	for _, dep := range deps {
		m, ok := pl.nodes[dep.Node]
		if !ok || m.platform == nil || !m.platform.decided {
			continue
		}
		for _, q := range m.platform.path {
			if !slices.ContainsFunc(q.Requires, func(r pkgsource.Requirement) bool { return r.Type == n.template.Type }) {
				b.add(&Demand{App: m.node.App, Node: m.node.ID, Package: q.String()}, n.template.Type, n.node.Version)
			}
		}
	}
}

// keptBy returns, when demand d is the requirement of the template of a
// platform node that pl decided to keep at its version, that node; else
// nil. The packages above it asked of it what its version meets, or
// nothing: another that asks what it does not would move it, and then its
// template would ask nothing of the node beneath. A runtime kept on 1.x
// by what a server 2.1 asked of it, or by a server 2.0 that asks nothing
// of it, whose template needs an OS below 2, is moved by server 2.2,
// whose package needs the runtime at 1.1 or above.
func (pl *planning) keptBy(d *Demand) *nodeInfo {
	if pl == nil || d.Package != "" || d.Node == "" {
		return nil
	}
	n, ok := pl.nodes[d.Node]
	if !ok || n.platform == nil || !n.platform.decided || n.platform.path != nil || n.node.Template != d.Template {
		return nil
	}
	return n
}
