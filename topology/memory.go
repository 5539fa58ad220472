package topology

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/go-multierror"

	"github.com/stackup/stackup/version"
)

// Memory is an in-memory [Topology]. It is immutable once built, so it is
// safe for concurrent use. Its Topology methods hand out what it holds,
// which callers must not modify; [Memory.Applications] returns copies.
type Memory struct {
	apps       map[AppID]*Application
	templates  map[TemplateID]*Template
	nodes      map[NodeID]*Node
	dependents map[NodeID][]Dependent
	// needed holds, for each node with any, the templates that nodes
	// above it require of the nodes beneath them and that a walk down
	// from those may reach through it (see Above): those of its
	// dependents' requirements, and those needed above its dependents
	// other than each dependent's own template. Nodes share equal lists.
	needed map[NodeID][]TemplateID
	// farNeeded holds, for each node with any, the templates needed above
	// its dependents other than each dependent's own: what a node two or
	// more relationships above it may require of it.
	farNeeded map[NodeID][]TemplateID
	// appDependents holds dependents by the application of the node they
	// depend on, for the applications with such nodes (see AppDependents).
	appDependents map[AppID]map[NodeID][]Dependent
}

var (
	_ Topology         = (*Memory)(nil)
	_ AboveLister      = (*Memory)(nil)
	_ DependentsLister = (*Memory)(nil)
)

// New validates apps and returns a Memory holding a copy of them. When the
// applications break any rule, New returns every problem at once (see
// [Validate]) and no Memory. Nodes without a version take their template's.
func New(apps ...Application) (*Memory, error) { return newMemory(apps, false) }

// newMemory is New, taking apps as they are, without a copy, when they are
// its own: the applications a file's reader has just made.
func newMemory(apps []Application, own bool) (*Memory, error) {
	if err := Validate(apps...); err != nil {
		return nil, err
	}
	m := &Memory{
		apps:       make(map[AppID]*Application, len(apps)),
		templates:  make(map[TemplateID]*Template),
		nodes:      make(map[NodeID]*Node),
		dependents: make(map[NodeID][]Dependent),
	}
	templates := m.templates
	// Equal constraints become one: planners compare the constraints of a
	// node's dependents by their text, which then compares at once.
	constraints := map[string]version.Constraint{}
	for i := range apps {
		a := &apps[i]
		if !own {
			a = cloneApplication(a)
		}
		m.apps[a.ID] = a
		for j := range a.Templates {
			templates[a.Templates[j].ID] = &a.Templates[j]
			for k := range a.Templates[j].Requirements {
				c := &a.Templates[j].Requirements[k].Constraint
				if seen, ok := constraints[c.String()]; ok {
					*c = seen
				} else {
					constraints[c.String()] = *c
				}
			}
		}
	}
	for _, a := range m.apps {
		for j := range a.Nodes {
			n := &a.Nodes[j]
			n.App = a.ID
			if n.Version.IsZero() {
				n.Version = templates[n.Template].Version
			}
			m.nodes[n.ID] = n
		}
	}
	// Each node's dependents in a list of its own, the lists cut from one:
	// counted first, as a platform node a fleet runs on has a fleet's worth,
	// and lists grown one by one would hold a third more than they need.
	counts := make(map[NodeID]int)
	m.eachDependent(func(target NodeID, _ Dependent) { counts[target]++ })
	total := 0
	for _, n := range counts {
		total += n
	}
	all := make([]Dependent, total)
	for target, n := range counts {
		m.dependents[target], all = all[:0:n], all[n:]
	}
	m.eachDependent(func(target NodeID, d Dependent) { m.dependents[target] = append(m.dependents[target], d) })
	for _, ds := range m.dependents {
		slices.SortFunc(ds, func(a, b Dependent) int {
			return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.Node, b.Node),
				cmp.Compare(a.Relation, b.Relation), cmp.Compare(a.Constraint.String(), b.Constraint.String()))
		})
	}
	m.indexNeeds()
	m.appDependents = map[AppID]map[NodeID][]Dependent{}
	for id, ds := range m.dependents {
		app := m.nodes[id].App
		if m.appDependents[app] == nil {
			m.appDependents[app] = map[NodeID][]Dependent{}
		}
		m.appDependents[app][id] = ds // cut at its length: appending copies
	}
	return m, nil
}

// eachDependent calls f with each dependent of each node, and the node:
// one per requirement of the dependent's template on the node's, or one
// without a constraint when there is none.
func (m *Memory) eachDependent(f func(NodeID, Dependent)) {
	// The requirements of each template by the template they name, found
	// once per template rather than searched for each relationship.
	reqsOn := make(map[*Template]map[TemplateID][]*Requirement)
	for _, n := range m.nodes {
		t := m.templates[n.Template]
		byTarget, ok := reqsOn[t]
		if !ok && len(n.Relationships) > 0 {
			byTarget = make(map[TemplateID][]*Requirement)
			for i := range t.Requirements {
				req := &t.Requirements[i]
				byTarget[req.Template] = append(byTarget[req.Template], req)
			}
			reqsOn[t] = byTarget
		}
		for k := range n.Relationships {
			r := &n.Relationships[k]
			target := m.nodes[r.Target]
			r.Target = target.ID // one string for one ID: comparisons and map lookups by it compare at once
			d := Dependent{App: n.App, Node: n.ID, Template: n.Template, Relation: r.Relation}
			reqs := byTarget[target.Template]
			for _, req := range reqs {
				d.Constraint = req.Constraint
				f(r.Target, d)
			}
			if len(reqs) == 0 {
				f(r.Target, d)
			}
		}
	}
}

// indexNeeds fills in needed and farNeeded, from the top of the stacks
// down: a node's lists follow from its dependents'. Validate has refused
// cycles. A list longer than maxNeeded becomes one of anyTemplate, which stands
// for every template: a hint that only costs Above a longer walk, so that
// a file cannot make the lists, copied down every chain, grow with the
// square of its size.
func (m *Memory) indexNeeds() {
	m.needed = map[NodeID][]TemplateID{}
	m.farNeeded = map[NodeID][]TemplateID{}
	anyNeeded := []TemplateID{anyTemplate}
	interned := map[string][]TemplateID{}
	var key strings.Builder
	intern := func(ts []TemplateID) []TemplateID {
		if len(ts) == 0 {
			return nil
		}
		slices.Sort(ts)
		ts = slices.Compact(ts)
		if ts[0] == anyTemplate || len(ts) > maxNeeded {
			return anyNeeded
		}
		key.Reset()
		for _, t := range ts {
			key.WriteString(string(t))
			key.WriteByte(0) // outside every identifier
		}
		if have, ok := interned[key.String()]; ok {
			return have
		}
		ts = slices.Clone(ts)
		interned[key.String()] = ts
		return ts
	}
	done := make(map[NodeID]bool, len(m.dependents)) // of nodes with dependents: the others need nothing
	// A node is done once its dependents are: a walk in post-order up
	// the dependents, kept on a stack of its own rather than the
	// goroutine's, as a chain of relationships can be long.
	type frame struct {
		id   NodeID
		next int // the next dependent to see to
	}
	var stack []frame
	var near, far []TemplateID
	for start := range m.dependents {
		if done[start] {
			continue
		}
		stack = append(stack[:0], frame{id: start})
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			deps := m.dependents[f.id]
			if f.next < len(deps) {
				d := deps[f.next].Node
				f.next++
				if !done[d] && len(m.dependents[d]) > 0 {
					stack = append(stack, frame{id: d})
				}
				continue
			}
			near, far = near[:0], far[:0]
			for i, d := range deps {
				if i > 0 && deps[i-1].Node == d.Node {
					continue
				}
				for _, r := range m.templates[d.Template].Requirements {
					near = append(near, r.Template)
				}
				for _, t := range m.needed[d.Node] {
					if t != d.Template {
						far = append(far, t)
					}
				}
				// Kept short as they grow, so that a node with many
				// dependents costs no more than their number.
				near, far = shorten(near), shorten(far)
			}
			farList := intern(far)
			if farList != nil {
				m.farNeeded[f.id] = farList
			}
			if nearList := intern(append(near, farList...)); nearList != nil {
				m.needed[f.id] = nearList
			}
			done[f.id] = true
			stack = stack[:len(stack)-1]
		}
	}
}

// maxNeeded is the longest list of templates needed above a node that
// Memory keeps; a list of anyTemplate alone stands for a longer one.
const maxNeeded = 64

// anyTemplate, outside every identifier, sorts first.
const anyTemplate TemplateID = "\x00any"

// shorten returns ts without repeats once it grows past twice maxNeeded,
// or anyTemplate alone if it still holds more than maxNeeded templates.
func shorten(ts []TemplateID) []TemplateID {
	if len(ts) <= 2*maxNeeded {
		return ts
	}
	slices.Sort(ts)
	if ts = slices.Compact(ts); len(ts) > maxNeeded || ts[0] == anyTemplate {
		return append(ts[:0], anyTemplate)
	}
	return ts
}

// needs reports whether list, a node's needed or farNeeded, holds t.
func needs(list []TemplateID, t TemplateID) bool {
	return len(list) > 0 && (list[0] == anyTemplate || slices.Contains(list, t))
}

// Above implements [AboveLister]. It walks up from node id only through
// the nodes above which some node requires id's template, so that a node
// with thousands of nodes above it, none of which does, costs one lookup.
// The result is sorted by application, node and constraint, and is the
// caller's.
func (m *Memory) Above(ctx context.Context, id NodeID) ([]Dependent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n, ok := m.nodes[id]
	if !ok {
		return nil, &NotFoundError{Kind: "node", ID: string(id)}
	}
	t := n.Template
	if !needs(m.farNeeded[id], t) {
		return nil, nil
	}
	seen := map[NodeID]bool{id: true}
	direct := map[NodeID]bool{}
	var queue []NodeID
	for _, d := range m.dependents[id] {
		direct[d.Node] = true
	}
	for _, d := range m.dependents[id] {
		if d.Template != t && !seen[d.Node] && needs(m.needed[d.Node], t) {
			seen[d.Node] = true
			queue = append(queue, d.Node)
		}
	}
	var out []Dependent
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		for _, d := range m.dependents[x] {
			if seen[d.Node] {
				continue
			}
			seen[d.Node] = true
			if !direct[d.Node] {
				for _, r := range m.templates[d.Template].Requirements {
					if r.Template == t {
						out = append(out, Dependent{App: d.App, Node: d.Node, Template: d.Template, Relation: r.Relation, Constraint: r.Constraint})
					}
				}
			}
			if d.Template != t && needs(m.needed[d.Node], t) { // not past a node of t
				queue = append(queue, d.Node)
			}
		}
	}
	slices.SortFunc(out, func(a, b Dependent) int {
		return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.Node, b.Node), cmp.Compare(a.Constraint.String(), b.Constraint.String()))
	})
	return out, nil
}

// Application implements [Topology]. The result is m's own: read it, but
// do not change it or anything it holds.
func (m *Memory) Application(ctx context.Context, id AppID) (*Application, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a, ok := m.apps[id]
	if !ok {
		return nil, &NotFoundError{Kind: "application", ID: string(id)}
	}
	return a, nil
}

// Node implements [Topology]. The result is m's own: read it, but do not
// change it.
func (m *Memory) Node(ctx context.Context, id NodeID) (*Node, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n, ok := m.nodes[id]
	if !ok {
		return nil, &NotFoundError{Kind: "node", ID: string(id)}
	}
	return n, nil
}

// Template implements [Topology]. The result is m's own: read it, but do
// not change it.
func (m *Memory) Template(ctx context.Context, id TemplateID) (*Template, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t, ok := m.templates[id]
	if !ok {
		return nil, &NotFoundError{Kind: "template", ID: string(id)}
	}
	return t, nil
}

// Dependents implements [Topology]. The result is sorted by application,
// node, relation and constraint. A dependent whose template has several
// requirements on the node's template appears once per requirement. The
// result is m's own list: read it, append to it, but do not change its
// elements.
func (m *Memory) Dependents(ctx context.Context, id NodeID) ([]Dependent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, ok := m.nodes[id]; !ok {
		return nil, &NotFoundError{Kind: "node", ID: string(id)}
	}
	return slices.Clip(m.dependents[id]), nil
}

// AppDependents implements [DependentsLister]: one lookup, where a call of
// Dependents per node would make one in an index of every node. The
// result and its lists are m's own: read them, but do not change them.
func (m *Memory) AppDependents(ctx context.Context, app AppID) (map[NodeID][]Dependent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, ok := m.apps[app]; !ok {
		return nil, &NotFoundError{Kind: "application", ID: string(app)}
	}
	return m.appDependents[app], nil
}

// Applications returns copies of every application, sorted by ID.
func (m *Memory) Applications() []Application {
	ids := slices.Sorted(maps.Keys(m.apps))
	apps := make([]Application, len(ids))
	for i, id := range ids {
		apps[i] = *cloneApplication(m.apps[id])
	}
	return apps
}

// cloneApplication copies a, its lists in one block each: an application
// can have many nodes, each with its relationships.
func cloneApplication(a *Application) *Application {
	c := &Application{ID: a.ID, Templates: slices.Clone(a.Templates), Nodes: slices.Clone(a.Nodes)}
	cloneLists(c.Templates, func(t *Template) *[]Requirement { return &t.Requirements })
	cloneLists(c.Nodes, func(n *Node) *[]Relationship { return &n.Relationships })
	return c
}

// cloneLists gives each item a copy of the list that list points to in it,
// all the copies in one block, each without spare capacity (nil stays nil).
func cloneLists[T, E any](items []T, list func(*T) *[]E) {
	n := 0
	for i := range items {
		n += len(*list(&items[i]))
	}
	block := make([]E, 0, n)
	for i := range items {
		l := list(&items[i])
		start := len(block)
		block = append(block, *l...)
		*l = (*l)[:0:0]
		if len(block) > start {
			*l = block[start:len(block):len(block)]
		}
	}
}

// Builder collects applications piece by piece for [New]. The zero Builder
// is ready to use; its methods return the Builder so calls can be chained.
// A Builder is not safe for concurrent use.
type Builder struct {
	apps  []Application
	index map[AppID]int
}

func (b *Builder) app(id AppID) *Application {
	if i, ok := b.index[id]; ok {
		return &b.apps[i]
	}
	if b.index == nil {
		b.index = map[AppID]int{}
	}
	b.index[id] = len(b.apps)
	b.apps = append(b.apps, Application{ID: id})
	return &b.apps[len(b.apps)-1]
}

// Template adds a template to application app, creating the application on
// first mention.
func (b *Builder) Template(app AppID, t Template) *Builder {
	a := b.app(app)
	a.Templates = append(a.Templates, t)
	return b
}

// Node adds a node to application app, creating the application on first
// mention.
func (b *Builder) Node(app AppID, n Node) *Builder {
	a := b.app(app)
	a.Nodes = append(a.Nodes, n)
	return b
}

// Build validates what was added and returns the topology; see [New].
func (b *Builder) Build() (*Memory, error) { return New(b.apps...) }

// maxRequirementsOn is the most requirements a template may have on one
// template: a node with n relationships to nodes of that template has n
// times as many dependencies.
const maxRequirementsOn = 64

// addTemplate says what to do about a reference to a template that the
// topology does not hold.
const addTemplate = "add the template to an application of the topology, or name one it holds"

// giveRelation says what relations a relationship may have.
const giveRelation = `give "` + string(HostedOn) + `" (the node runs on it) or "` + string(DependsOn) + `" (the node needs it)`

// addNode says what to do about a relationship to a node the topology
// does not hold.
const addNode = "add the node to an application of the topology, or name one it holds"

// firstListings returns, for each node ID, the first of apps that lists
// a node of that ID.
func firstListings(apps []Application) map[NodeID]AppID {
	first := map[NodeID]AppID{}
	for _, a := range apps {
		for _, n := range a.Nodes {
			if _, ok := first[n.ID]; !ok {
				first[n.ID] = a.ID
			}
		}
	}
	return first
}

// requirementItem names the k-th requirement of template t, and its name
// when it has a safe one, such as `template "shop_app" requirement #1
// ("host")`.
func requirementItem(t TemplateID, k int, name string) string {
	item := fmt.Sprintf("template %q requirement #%d", t, k+1)
	if name != "" && CheckID("requirement name", name) == nil {
		item += fmt.Sprintf(" (%q)", name)
	}
	return item
}

// Validate checks applications against the rules a topology must keep and
// reports every problem at once, as a *multierror.Error of [*Error] values,
// or nil. The rules: every application, template and node has an ID, unique
// across all applications; every template has a type; every node names a
// known template; every relationship has a known relation kind and a known
// target other than the node itself; a node is hosted on at most one node;
// a node lists each relationship once; every requirement names a known
// template, and a template has at most 64 requirements naming the same
// template (a relationship to a node of that template meets each of them,
// so that their number multiplies); relationships form no cycle (an error matching both ErrInvalid
// and ErrCycle); every identifier (application, template, node, type,
// requirement name, and the templates and nodes referred to) lies in the
// safe set of [CheckID] (an error matching both ErrInvalid and
// ErrInvalidID, wrapping an [*IDError]); a requirement's relation, free
// text, is UTF-8, so that a file can hold it.
func Validate(apps ...Application) error {
	var errs *multierror.Error
	problem := func(item string, format string, args ...any) {
		errs = multierror.Append(errs, &Error{Item: item, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)})
	}
	badID := func(item string, err error) {
		errs = multierror.Append(errs, &Error{Item: item, Err: fmt.Errorf("%w: %w", ErrInvalid, err)})
	}
	appSeen := map[AppID]bool{}
	templates := map[TemplateID]AppID{}
	nodes := map[NodeID]*Node{}
	var listedIn map[NodeID]AppID // see firstListings; made at the first duplicate
	for i := range apps {
		a := &apps[i]
		item := fmt.Sprintf("application %q", a.ID)
		idErr := CheckID("application", string(a.ID))
		switch {
		case a.ID == "":
			problem(fmt.Sprintf("application #%d", i+1), "no ID: give the application an ID, such as shop")
		case idErr != nil:
			item = fmt.Sprintf("application #%d", i+1)
			badID(item, idErr)
		case appSeen[a.ID]:
			problem(item, "duplicate application ID: give each application one entry, holding all its templates and nodes, or give the other application its own ID")
		}
		appSeen[a.ID] = true
		for j, t := range a.Templates {
			titem := fmt.Sprintf("template %q", t.ID)
			if t.ID == "" {
				problem(fmt.Sprintf("%s template #%d", item, j+1), "no ID: give the template an ID, such as tomcat_server, and name it so in the nodes deployed from it")
				continue
			}
			if err := CheckID("template", string(t.ID)); err != nil {
				badID(fmt.Sprintf("%s template #%d", item, j+1), err)
				continue
			}
			if other, dup := templates[t.ID]; dup {
				if other == a.ID {
					problem(titem, "duplicate template ID (listed twice in application %q): give each template once", other)
				} else {
					problem(titem, "duplicate template ID (also in application %q): a template belongs to one application: "+
						"list it there only; a template of another application that needs it names it in its requirements", other)
				}
				continue
			}
			templates[t.ID] = a.ID
			if strings.TrimSpace(t.Type) == "" {
				problem(titem, "no type: give the platform type it deploys, such as tomcat, as packages name it")
			} else if err := CheckID("type", t.Type); err != nil {
				badID(titem, err)
			}
			on := make(map[TemplateID]int, len(t.Requirements))
			for _, r := range t.Requirements {
				on[r.Template]++
			}
			for _, r := range t.Requirements {
				if n := on[r.Template]; n > maxRequirementsOn {
					problem(titem, "%d requirements name template %q, at most %d: each relationship to a node of %q meets every one, "+
						"so that a file could make millions of dependencies; merge them into one requirement", n, r.Template, maxRequirementsOn, r.Template)
					on[r.Template] = 0 // reported
				}
			}
			for k, r := range t.Requirements {
				if r.Name != "" {
					if err := CheckID("requirement name", r.Name); err != nil {
						badID(fmt.Sprintf("%s requirement #%d", titem, k+1), err)
					}
				}
				if r.Template != "" {
					if err := CheckID("template", string(r.Template)); err != nil {
						badID(fmt.Sprintf("%s requirement #%d", titem, k+1), err)
					}
				}
				if !utf8.ValidString(string(r.Relation)) { // free text, but a file cannot hold it: it would not read back
					problem(requirementItem(t.ID, k, r.Name), "relation %q is not UTF-8, which no topology file can hold: write it in UTF-8", r.Relation)
				}
			}
		}
		for j := range a.Nodes {
			n := &a.Nodes[j]
			if n.ID == "" {
				problem(fmt.Sprintf("%s node #%d", item, j+1), "no ID: give the node an ID, such as tomcat-1")
				continue
			}
			if err := CheckID("node", string(n.ID)); err != nil {
				badID(fmt.Sprintf("%s node #%d", item, j+1), err)
				continue
			}
			if _, dup := nodes[n.ID]; dup {
				if listedIn == nil { // one look for every duplicate: a file may hold many
					listedIn = firstListings(apps)
				}
				if first := listedIn[n.ID]; first != a.ID {
					problem(fmt.Sprintf("node %q", n.ID), "duplicate node ID (also in application %q): a node belongs to one application: "+
						"list it there only; a node of another application that runs on it or needs it names it in its relationships", first)
				} else {
					problem(fmt.Sprintf("node %q", n.ID), "duplicate node ID (listed twice in application %q): give each node once", first)
				}
				continue
			}
			nodes[n.ID] = n
		}
	}
	for _, a := range apps {
		for _, t := range a.Templates {
			for k, r := range t.Requirements {
				if r.Template == "" {
					problem(requirementItem(t.ID, k, r.Name), "names no template: give the template of the platform it requires, such as tomcat_server")
					continue
				}
				if CheckID("template", string(r.Template)) != nil {
					continue // reported above
				}
				if _, ok := templates[r.Template]; !ok {
					req := fmt.Sprintf("requirement #%d", k+1)
					if r.Name != "" {
						req = fmt.Sprintf("requirement %q", r.Name)
					}
					problem(fmt.Sprintf("template %q", t.ID), "%s names unknown template %q: %s", req, r.Template, addTemplate)
				}
			}
		}
	}
	for _, a := range apps {
		for j := range a.Nodes {
			n := &a.Nodes[j]
			if nodes[n.ID] != n {
				continue // no ID or a duplicate: reported above
			}
			item := func() string { return fmt.Sprintf("node %q", n.ID) } // for a problem only: a fleet has many nodes
			switch _, ok := templates[n.Template]; {
			case n.Template == "":
				problem(item(), "no template: give the ID of the template the node is deployed from")
			case !ok:
				if err := CheckID("template", string(n.Template)); err != nil {
					badID(item(), err)
					break
				}
				problem(item(), "unknown template %q: %s", n.Template, addTemplate)
			}
			// Its hosted_on relationships: how many, and the first two
			// targets, for the error of a node with more than one.
			hosts, host := 0, [2]NodeID{}
			// A set, not a search of those before: a node read from a
			// file may have many relationships. Most have one.
			var seen map[Relationship]bool
			if len(n.Relationships) > 1 {
				seen = make(map[Relationship]bool, len(n.Relationships))
			}
			for k, r := range n.Relationships {
				if seen[r] {
					problem(item(), "duplicate relationship: %s %q: give each relationship once", r.Relation, r.Target)
					continue
				}
				if seen != nil {
					seen[r] = true
				}
				targetErr := CheckID("node", string(r.Target))
				switch {
				case targetErr != nil:
					badID(fmt.Sprintf("%s relationship #%d", item(), k+1), targetErr)
				case r.Relation == "":
					problem(item(), "relationship to %q names no relation: %s", r.Target, giveRelation)
				case r.Relation != HostedOn && r.Relation != DependsOn:
					problem(item(), "relationship to %q: unknown relation %q: %s", r.Target, r.Relation, giveRelation)
				case r.Target == n.ID:
					problem(item(), "%s itself: a relationship names another node", r.Relation)
				case nodes[r.Target] == nil:
					problem(item(), "%s unknown node %q: %s", r.Relation, r.Target, addNode)
				}
				if r.Relation == HostedOn {
					if hosts < len(host) {
						host[hosts] = r.Target
					}
					hosts++
				}
			}
			if hosts > 1 {
				more := ""
				if hosts > len(host) {
					more = fmt.Sprintf(" and %d more", hosts-len(host))
				}
				problem(item(), "hosted on %d nodes, %s, %s%s; a node has at most one host: "+
					"keep hosted_on for the node it runs on, and make the others depends_on",
					hosts, Quote(string(host[0])), Quote(string(host[1])), more)
			}
		}
	}
	cycles, more := findCycles(nodes)
	for _, cycle := range cycles {
		errs = multierror.Append(errs, &Error{Item: fmt.Sprintf("node %q", cycle[0]), Err: fmt.Errorf("%w: %w: %s: a node cannot run on or need itself: remove or reverse one of these relationships",
			ErrInvalid, ErrCycle, strings.Join(cycle, " → "))})
	}
	if more > 0 {
		errs = multierror.Append(errs, &Error{Item: "relationships", Err: fmt.Errorf("%w: %w: %d more cycles; break the ones above first", ErrInvalid, ErrCycle, more)})
	}
	return joined(errs)
}

// Bounds of the cycles reported, so that the error stays in proportion to
// the input: a file of n nodes can hold n cycles of n nodes.
const (
	maxCycles     = 10 // cycles reported; the others are counted
	maxCycleShown = 32 // nodes shown of a cycle, the rest counted
)

// findCycles returns the first maxCycles relationship cycles found by a
// depth-first walk in ID order, each as the node IDs along it (at most
// maxCycleShown, then how many more) with the first repeated at the end,
// and how many more it found.
func findCycles(nodes map[NodeID]*Node) (cycles [][]string, more int) {
	const (
		unvisited = iota
		onStack
		done
	)
	state := make(map[NodeID]int, len(nodes))
	var stack []NodeID
	var visit func(id NodeID)
	visit = func(id NodeID) {
		state[id] = onStack
		stack = append(stack, id)
		n := nodes[id]
		targets := make([]NodeID, 0, len(n.Relationships))
		for _, r := range n.Relationships {
			if r.Target != id && nodes[r.Target] != nil {
				targets = append(targets, r.Target)
			}
		}
		slices.Sort(targets)
		for _, t := range slices.Compact(targets) {
			switch state[t] {
			case unvisited:
				visit(t)
			case onStack:
				if len(cycles) == maxCycles {
					more++
					continue
				}
				on := stack[slices.Index(stack, t):]
				cycle := make([]string, 0, min(len(on), maxCycleShown)+2)
				for _, s := range on[:min(len(on), maxCycleShown)] {
					cycle = append(cycle, string(s))
				}
				if len(on) > maxCycleShown {
					cycle = append(cycle, fmt.Sprintf("… %d more", len(on)-maxCycleShown))
				}
				cycles = append(cycles, append(cycle, string(t)))
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = done
	}
	for _, id := range slices.Sorted(maps.Keys(nodes)) {
		if state[id] == unvisited {
			visit(id)
		}
	}
	return cycles, more
}
