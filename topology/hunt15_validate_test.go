package topology_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// Test: a node hosted on two nodes is refused naming both hosts and
// saying what to write instead. Before, the error said only "hosted on 2
// nodes", and a user whose file (an export of a CMDB, say) gives the node
// many relationships could not tell which of them to change, nor into
// what.
func TestHunt15TwoHostsNamed(t *testing.T) {
	const file = `schema: stackup.topology/v1
applications:
  - id: shop
    templates:
      - {id: shop_app, type: webapp, version: 1.0.0}
      - {id: tomcat_server, type: tomcat, version: 9.0.1}
      - {id: db, type: postgres, version: 15.1}
    nodes:
      - {id: tomcat-1, template: tomcat_server}
      - {id: tomcat-2, template: tomcat_server}
      - {id: db-1, template: db}
      - id: shop-1
        template: shop_app
        relationships:
          - {relation: depends_on, target: db-1}
          - {relation: hosted_on, target: tomcat-1}
          - {relation: hosted_on, target: tomcat-2}
`
	m, err := topology.ReadYAML(strings.NewReader(file))
	require.Error(t, err)
	assert.Nil(t, m)
	assert.ErrorIs(t, err, topology.ErrInvalid)
	msg := err.Error()
	assert.Contains(t, msg, `node "shop-1"`)
	assert.Contains(t, msg, `"tomcat-1"`, "names the first host: %s", msg)
	assert.Contains(t, msg, `"tomcat-2"`, "names the second host: %s", msg)
	assert.NotContains(t, msg, `"db-1"`, "names only the hosts: %s", msg)
	assert.Contains(t, msg, "depends_on", "says what to write instead: %s", msg)
}
