package upgrade

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// Request asks for one application to move to a new template.
type Request struct {
	// Application is the deployed application to upgrade.
	Application topology.AppID `json:"application"`
	// Replaces is the template, in that application, whose nodes are
	// upgraded.
	Replaces topology.TemplateID `json:"replaces"`
	// Template is the new template. Its Requirements name the platform
	// templates beneath and the versions the new template needs of them.
	// Its ID is Replaces, a new one, or that of the application's
	// template of the same type (its Type, or without one that of
	// Replaces) that a run has moved nodes to; not another application's,
	// nor the new ID that a request of the batch gives another
	// application's template.
	Template topology.Template `json:"template"`
}

// String returns a short description, such as
// "shop: shop_app → shop_app@2.0.0". An identifier outside the safe set of
// topology.CheckID is quoted, Go-style.
func (r Request) String() string {
	return fmt.Sprintf("%s: %s → %s@%s", textID(r.Application), textID(r.Replaces), textID(r.Template.ID), r.Template.Version)
}

// StepID identifies a step within a plan. IDs are derived from the node and
// the target version ("platform/tomcat-1@9.0.85", "app/shop-1@2.0.0"), so
// the same inputs always give the same IDs.
//
// The version in an ID is in canonical form ("platform/ubuntu-1@18.4.0"
// for a package written "18.04"), although steps, errors and renderings
// show versions as written: an ID names a step to executors, journals and
// scripts, and must stay the same when an index is republished with the
// version spelt differently ("18.04", "v18.4", "18.4.0" are one version),
// so that an interrupted run resumes and a script that waits for a step
// finds it. A plan's ID, in contrast, hashes the versions as written: a plan
// is what it says.
type StepID string

// StepKind says what a step changes.
type StepKind uint8

// The step kinds.
const (
	// Platform steps install an upgrade package on a platform node.
	Platform StepKind = iota + 1
	// Application steps move an application node to the new template.
	Application
)

var kindNames = map[StepKind]string{Platform: "platform", Application: "application"}

func (k StepKind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("StepKind(%d)", uint8(k))
}

// MarshalText implements encoding.TextMarshaler.
func (k StepKind) MarshalText() ([]byte, error) {
	if _, ok := kindNames[k]; !ok {
		return nil, fmt.Errorf("upgrade: unknown step kind %d", uint8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *StepKind) UnmarshalText(text []byte) error {
	for kind, name := range kindNames {
		if name == string(text) {
			*k = kind
			return nil
		}
	}
	// No "upgrade:" prefix: ReadJSON, and json.Unmarshal's callers, say
	// what was being read. A plan file may hold a kind of megabytes:
	// quoted cut short.
	return fmt.Errorf("unknown step kind %s: want %q or %q", topology.Quote(string(text)), Platform, Application)
}

// Step is one change to one node.
type Step struct {
	ID   StepID   `json:"id"`
	Kind StepKind `json:"kind"`
	// App is the application the node belongs to.
	App  topology.AppID  `json:"app"`
	Node topology.NodeID `json:"node"`
	// Template is the template the node was deployed from, and Type its
	// type (such as "tomcat").
	Template topology.TemplateID `json:"template"`
	Type     string              `json:"type"`
	From     version.Version     `json:"from"`
	To       version.Version     `json:"to"`
	// Package is what a Platform step installs.
	Package *pkgsource.Package `json:"package,omitempty"`
	// NewTemplate is what an Application step deploys in place of
	// Template: the template of the plan's Requests[Request]. The steps of
	// one request share it: treat it as read-only. JSON holds only the
	// index, which ReadJSON turns back into the template.
	NewTemplate *topology.Template `json:"-"`
	Request     int                `json:"request,omitzero"` // for an Application step; 0 when omitted
	// After lists the steps that must succeed before this one starts,
	// sorted. An entry may name a Barrier of the plan, which stands for
	// the steps it waits for: see [Plan.Prerequisites].
	After []StepID `json:"after,omitempty"`
	// Reason says why the step is needed, for people; the node's
	// Decision says why it goes to the version it does.
	Reason string `json:"reason"`
}

// Decision says why the planner takes a platform node to the version it
// chose: what is demanded of the node and which versions it considered.
type Decision struct {
	Node topology.NodeID `json:"node"`
	// Demands are the constraints on the node that its final version
	// meets: the requests', those of packages above, and the co-tenants'
	// that ruled out a version.
	Demands []Demand `json:"demands"`
	// Candidates are the package versions considered, newest first, with
	// why each was or was not chosen: all of them, or the 32 nearest the
	// chosen one. Nodes decided for the same reasons share one list.
	Candidates []Candidate `json:"candidates"`
}

// Check records a requirement that already holds: no step is needed for it.
type Check struct {
	Node     topology.NodeID     `json:"node"`
	Template topology.TemplateID `json:"template"`
	Version  version.Version     `json:"version"`
	Demand   Demand              `json:"demand"`
}

// Candidate is a package version the planner considered for a platform
// node, and why it was not chosen.
type Candidate struct {
	Version version.Version `json:"version"`
	Chosen  bool            `json:"chosen,omitempty"`
	// Rejected says why the version was not chosen; empty when Chosen.
	Rejected string `json:"rejected,omitempty"`
}

// Barrier joins steps without changing anything: a step whose After names
// a barrier starts only once every step the barrier's After names has
// succeeded; if one fails, the steps after the barrier are skipped. A
// barrier's After may name other barriers. [Plan.Roll] puts one between
// consecutive batches, so that a batch of n steps after a batch of m costs
// n+m edges rather than n×m. Barriers share the namespace of step IDs.
type Barrier struct {
	ID    StepID   `json:"id"`
	After []StepID `json:"after"`
	// Reason says what the barrier waits for, for people.
	Reason string `json:"reason,omitempty"`
}

// Plan is an ordered set of steps that together upgrade one or more
// applications, platform first.
//
// Steps are in a topological order: every step comes after all the steps in
// its After list. The order, the IDs and every list in a Plan are
// deterministic: planning the same inputs again gives an identical plan.
//
// Steps and decisions may share what they point to: the Package of steps
// that install the same one, equal lists of Candidates, the NewTemplate of
// a request's steps. Treat them as read-only, and copy what you would
// change.
type Plan struct {
	// ID is "sha256:" and the hex SHA-256 of a canonical encoding of all
	// the plan's other fields. Two plans with the same ID are the same.
	ID       string    `json:"id"`
	Requests []Request `json:"requests"`
	Steps    []Step    `json:"steps"`
	// Barriers join steps: see [Barrier]. They are sorted by ID.
	Barriers  []Barrier `json:"barriers,omitempty"`
	Satisfied []Check   `json:"satisfied,omitempty"`
	// Decisions say why each platform node with steps goes to the version
	// it does, one per node, sorted by node.
	Decisions []Decision `json:"decisions,omitempty"`
	// Warnings are things a person should know that do not stop the plan,
	// such as the old requirement of a replaced node, or of a platform
	// node the plan upgrades, being broken between the step beneath it
	// and its own step, or a co-tenant's requirement on a template that a
	// step moves its node away from (to a template of another ID), which
	// no plan finds once the step has run.
	Warnings []string `json:"warnings,omitempty"`
}

// Prerequisites returns the steps that must succeed before step id
// starts: its After list, in which each barrier stands for the steps it
// waits for, sorted and without repeats. It returns nil for an ID that is
// not a step of the plan.
func (p *Plan) Prerequisites(id StepID) []StepID {
	s, ok := p.Step(id)
	if !ok {
		return nil
	}
	barriers := make(map[StepID]*Barrier, len(p.Barriers))
	for i := range p.Barriers {
		barriers[p.Barriers[i].ID] = &p.Barriers[i]
	}
	var out []StepID
	seen := map[StepID]bool{}
	// A stack of its own rather than recursion: barriers may be chained
	// by the million, more than a goroutine's stack holds.
	for todo := [][]StepID{s.After}; len(todo) > 0; {
		after := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		for _, a := range after {
			if seen[a] {
				continue
			}
			seen[a] = true
			if b, ok := barriers[a]; ok {
				todo = append(todo, b.After)
			} else {
				out = append(out, a)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Decision returns the decision for platform node n, if the plan has steps
// for it.
func (p *Plan) Decision(n topology.NodeID) (*Decision, bool) {
	i, ok := slices.BinarySearchFunc(p.Decisions, n, func(d Decision, n topology.NodeID) int { return cmp.Compare(d.Node, n) })
	if !ok {
		return nil, false
	}
	return &p.Decisions[i], true
}

// Step returns the step with the given ID.
func (p *Plan) Step(id StepID) (*Step, bool) {
	for i := range p.Steps {
		if p.Steps[i].ID == id {
			return &p.Steps[i], true
		}
	}
	return nil, false
}
