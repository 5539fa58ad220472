package topology_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// The package doc: "Node and template identifiers are unique across a whole
// topology, not only within their application".
func TestHuntDocIDsUniqueAcrossApplications(t *testing.T) {
	tpl := func(id topology.TemplateID) topology.Template {
		return topology.Template{ID: id, Type: "x", Version: version.MustParse("1.0.0")}
	}
	_, err := new(topology.Builder).
		Template("a", tpl("t1")).Template("b", tpl("t2")).
		Node("a", topology.Node{ID: "n", Template: "t1"}).
		Node("b", topology.Node{ID: "n", Template: "t2"}).
		Build()
	assert.Error(t, err, "one node ID in two applications")

	_, err = new(topology.Builder).
		Template("a", tpl("t")).Template("b", tpl("t")).
		Node("a", topology.Node{ID: "n1", Template: "t"}).
		Node("b", topology.Node{ID: "n2", Template: "t"}).
		Build()
	assert.Error(t, err, "one template ID in two applications")
}

// Topology: "Methods return an error matching ErrNotFound for an unknown
// ID" — Memory's four, and its Above.
func TestHuntDocMemoryNotFound(t *testing.T) {
	m, err := new(topology.Builder).
		Template("a", topology.Template{ID: "t", Type: "x", Version: version.MustParse("1.0.0")}).
		Node("a", topology.Node{ID: "n", Template: "t"}).
		Build()
	if !assert.NoError(t, err) {
		return
	}
	ctx := context.Background()
	_, err = m.Application(ctx, "nope")
	assert.ErrorIs(t, err, topology.ErrNotFound)
	_, err = m.Node(ctx, "nope")
	assert.ErrorIs(t, err, topology.ErrNotFound)
	_, err = m.Template(ctx, "nope")
	assert.ErrorIs(t, err, topology.ErrNotFound)
	_, err = m.Dependents(ctx, "nope")
	assert.ErrorIs(t, err, topology.ErrNotFound)
	var above topology.AboveLister = m
	_, err = above.Above(ctx, "nope")
	assert.ErrorIs(t, err, topology.ErrNotFound)
	deps, err := m.Dependents(ctx, "n")
	assert.NoError(t, err)
	assert.Empty(t, deps)
}
