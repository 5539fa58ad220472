// Package topology describes what is deployed: applications, the node
// templates they were deployed from, the node instances and the
// relationships between them (an application node hosted on a server,
// hosted on a runtime, hosted on an operating system).
//
// stackup reads a deployment through the small [Topology] interface, which a
// host program implements over its own inventory (a CMDB, a cloud API, a
// TOSCA orchestrator's database). [Memory] is an in-memory implementation,
// built with a [Builder] or [New], read from a JSON or YAML file ([ReadJSON],
// [ReadYAML], [Load]), or from a TOSCA service template and its instances
// ([ReadTOSCA], [LoadTOSCA]).
//
// Identifiers are distinct string types ([AppID], [NodeID], [TemplateID]) so
// that one cannot be passed where another is meant. Node and template
// identifiers are unique across a whole topology, not only within their
// application, because platforms are shared between applications.
package topology

import (
	"context"

	"github.com/stackup/stackup/version"
)

// AppID identifies a deployed application, such as "shop".
type AppID string

// NodeID identifies one deployed node instance, such as "tomcat-1".
type NodeID string

// TemplateID identifies a node template, such as "tomcat_server": the
// description from which one or more nodes were deployed.
type TemplateID string

// Relation is the kind of a relationship between two nodes.
type Relation string

// The relation kinds stackup knows, named after TOSCA's normative
// relationship types.
const (
	// HostedOn: the source node runs on the target (an application on a
	// server, a server on a runtime, a runtime on an operating system).
	HostedOn Relation = "hosted_on"
	// DependsOn: the source node needs the target but does not run on it
	// (an application and its database).
	DependsOn Relation = "depends_on"
)

// Template is a node template: the type and version of what a node runs,
// and the requirements it puts on the nodes beneath it.
type Template struct {
	ID           TemplateID      `json:"id"`
	Type         string          `json:"type"` // what it is, such as "tomcat"; packages are looked up by type
	Version      version.Version `json:"version"`
	Requirements []Requirement   `json:"requirements,omitempty"`
}

// Requirement is what a template needs of a node beneath it: a node
// deployed from Template whose version satisfies Constraint.
type Requirement struct {
	Name       string             `json:"name,omitempty"` // optional label, such as "host" or "database"
	Template   TemplateID         `json:"template"`
	Constraint version.Constraint `json:"constraint"`
	Relation   Relation           `json:"relation,omitempty"` // how the node relates to it; informational
}

// Relationship links a node to a node it runs on or needs.
type Relationship struct {
	Relation Relation `json:"relation" yaml:"relation"`
	Target   NodeID   `json:"target" yaml:"target"`
}

// Node is one deployed instance of a template.
type Node struct {
	ID       NodeID          `json:"id"`
	Template TemplateID      `json:"template"`
	Version  version.Version `json:"version"` // installed version; zero means the template's version
	// Relationships lists the nodes this node runs on or needs; targets may
	// belong to other applications.
	Relationships []Relationship `json:"relationships,omitempty"`
	// App names the application the node belongs to. Memory fills it in.
	App AppID `json:"-"`
}

// Application is a deployed application: its templates and nodes.
type Application struct {
	ID        AppID      `json:"id"`
	Templates []Template `json:"templates"`
	Nodes     []Node     `json:"nodes"`
}

// Template returns the application's template with the given ID.
func (a *Application) Template(id TemplateID) (*Template, bool) {
	for i := range a.Templates {
		if a.Templates[i].ID == id {
			return &a.Templates[i], true
		}
	}
	return nil, false
}

// NodesOf returns the application's nodes deployed from template id, in the
// order the application lists them.
func (a *Application) NodesOf(id TemplateID) []Node {
	var nodes []Node
	for _, n := range a.Nodes {
		if n.Template == id {
			nodes = append(nodes, n)
		}
	}
	return nodes
}

// Dependent is a node that runs on or requires another node, with the
// constraint its template places on that node.
type Dependent struct {
	App        AppID
	Node       NodeID
	Template   TemplateID
	Relation   Relation
	Constraint version.Constraint // the zero Constraint when the template states none
}

// Topology is read access to what is deployed. stackup only reads it.
//
// Implementations must be safe for concurrent use. Methods return an error
// matching [ErrNotFound] for an unknown ID. What they return is the
// caller's to read and keep, not to modify: an implementation may hand out
// what it holds rather than copy it on every call (an application can have
// thousands of nodes, and a shared platform node thousands of dependents).
// A caller that would change a value copies it first.
type Topology interface {
	// Application returns the application with its templates and nodes.
	Application(ctx context.Context, id AppID) (*Application, error)
	// Node returns one node, from any application, with Node.App set: the
	// node of ID id exactly (IDs are case-sensitive), which the planner
	// refuses otherwise.
	Node(ctx context.Context, id NodeID) (*Node, error)
	// Template returns one template, from any application.
	Template(ctx context.Context, id TemplateID) (*Template, error)
	// Dependents returns the nodes, in any application, that have a
	// relationship to node id (direct dependents only, not the nodes above
	// those), with the constraint each places on it: that of a
	// requirement of the dependent's template naming id's template, once
	// per such requirement, or the zero Constraint when there is none.
	// Every node with a relationship to id must be listed, with or without
	// a constraint: stackup walks up from each (asking for its own
	// Dependents) to find the nodes further up whose templates require
	// id's template, and checks their constraints too (see [AboveLister]).
	// The order is the implementation's.
	Dependents(ctx context.Context, id NodeID) ([]Dependent, error)
}

// AboveLister is an optional interface of a [Topology] that can answer
// what stackup would otherwise find by walking [Topology.Dependents] up
// from a node, which costs a call per node above it. [Memory] has it.
type AboveLister interface {
	// Above returns the nodes, in any application, that have no
	// relationship to node id but whose template has a requirement naming
	// id's template T and whose walk down their relationships reaches id
	// without passing another node of T (a requirement binds the first
	// node of its template down each way); once per such requirement, with
	// its constraint and relation. The constraint is the requirement's,
	// not that of the relationship through which the node reaches id.
	// The order is the implementation's.
	Above(ctx context.Context, id NodeID) ([]Dependent, error)
}

// DependentsLister is an optional interface of a [Topology] that can list
// the dependents of a whole application's nodes in one call, where
// stackup would otherwise call [Topology.Dependents] once per node: a
// request replaces every node of a template, and a fleet's application
// can have thousands, few of which have dependents. [Memory] has it.
type DependentsLister interface {
	// AppDependents returns, for each node of application app that has
	// dependents, what Dependents returns for it; nodes without any are
	// left out. An unknown application gives an error matching
	// [ErrNotFound].
	AppDependents(ctx context.Context, app AppID) (map[NodeID][]Dependent, error)
}
