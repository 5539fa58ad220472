package topology_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// Test: a requirement's relation, free text, that is not UTF-8 is refused
// by New, naming the requirement: WriteJSON wrote it as JSON cannot hold
// it (each bad byte became U+FFFD), so that the file read back held
// another relation than the topology written, where WriteJSON promises a
// file that ReadJSON reads back.
func TestHunt14RequirementRelationNotUTF8(t *testing.T) {
	app := topology.Application{ID: "shop",
		Templates: []topology.Template{
			{ID: "shop_app", Type: "webapp", Version: v("1.0.0"),
				Requirements: []topology.Requirement{{Name: "host", Template: "tomcat_server", Constraint: c(">=9"), Relation: "h\xf6sted"}}},
			{ID: "tomcat_server", Type: "tomcat", Version: v("9.0.1")},
		},
		Nodes: []topology.Node{{ID: "tomcat-1", Template: "tomcat_server"}, {ID: "shop-1", Template: "shop_app", Relationships: rels(hostedOn("tomcat-1"))}},
	}
	m, err := topology.New(app)
	require.Error(t, err, "a relation that no file can hold is accepted")
	assert.Nil(t, m)
	assert.ErrorIs(t, err, topology.ErrInvalid)
	assert.Contains(t, err.Error(), `template "shop_app" requirement #1 ("host"): invalid topology: relation "h\xf6sted" is not UTF-8`)

	// Written in UTF-8, it is kept as it is, through a file too.
	app.Templates[0].Requirements[0].Relation = "hösted"
	m, err = topology.New(app)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, m.WriteJSON(&buf))
	back, err := topology.ReadJSON(&buf)
	require.NoError(t, err)
	tp, err := back.Template(t.Context(), "shop_app")
	require.NoError(t, err)
	assert.Equal(t, topology.Relation("hösted"), tp.Requirements[0].Relation)
}
