package topology

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/version"
)

// TestAboveIndexIsBounded builds a node with 200 dependents, each with a
// node above requiring the JDK and a template of its own with no node: the templates
// needed above the node outgrow maxNeeded and become anyTemplate, down to
// the bottom of a 100-node chain beneath it, so that the index does not
// grow with the chain's length times their number; Above still finds
// every one.
func TestAboveIndexIsBounded(t *testing.T) {
	const fan, chain = 200, 100
	var b Builder
	b.Template("p", Template{ID: "jdk", Type: "jdk", Version: version.MustParse("1.0.0")}).
		Template("p", Template{ID: "link", Type: "link", Version: version.MustParse("1.0.0")}).
		Node("p", Node{ID: "j", Template: "jdk"})
	below := NodeID("j")
	for i := range chain {
		id := NodeID(fmt.Sprintf("c%03d", i))
		b.Node("p", Node{ID: id, Template: "link", Relationships: []Relationship{{Relation: HostedOn, Target: below}}})
		below = id
	}
	for i := range fan {
		own := TemplateID(fmt.Sprintf("own%03d", i))
		top := TemplateID(fmt.Sprintf("top%03d", i))
		other := TemplateID(fmt.Sprintf("other%03d", i)) // with no node
		b.Template("p", Template{ID: own, Type: "x", Version: version.MustParse("1.0.0")}).
			Template("p", Template{ID: other, Type: "x", Version: version.MustParse("1.0.0")}).
			Template("p", Template{ID: top, Type: "x", Version: version.MustParse("1.0.0"), Requirements: []Requirement{
				{Template: "jdk", Constraint: version.MustParseConstraint("<17")}, {Template: other, Constraint: version.MustParseConstraint(">=1")}}}).
			Node("p", Node{ID: NodeID(fmt.Sprintf("mid%03d", i)), Template: own, Relationships: []Relationship{{Relation: HostedOn, Target: below}}}).
			Node("p", Node{ID: NodeID(fmt.Sprintf("top%03d", i)), Template: top, Relationships: []Relationship{{Relation: HostedOn, Target: NodeID(fmt.Sprintf("mid%03d", i))}}})
	}
	m, err := b.Build()
	require.NoError(t, err)
	for id, list := range m.needed {
		assert.LessOrEqual(t, len(list), maxNeeded, "node %s", id)
	}
	assert.Equal(t, []TemplateID{anyTemplate}, m.needed["j"])
	above, err := m.Above(context.Background(), "j")
	require.NoError(t, err)
	assert.Len(t, above, fan, "every top node requires the JDK")
	above, err = m.Above(context.Background(), "c050")
	require.NoError(t, err)
	assert.Empty(t, above, "nothing requires link")
}
