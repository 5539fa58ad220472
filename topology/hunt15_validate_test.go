package topology_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// hunt15Shop is the start of a YAML topology: the shop application's
// templates and its node tomcat-1, to which a test adds nodes.
const hunt15Shop = `schema: stackup.topology/v1
applications:
  - id: shop
    templates:
      - {id: shop_app, type: webapp, version: 1.0.0}
      - {id: tomcat_server, type: tomcat, version: 9.0.1}
    nodes:
      - {id: tomcat-1, template: tomcat_server}
`

// Test: a node hosted on two nodes is refused naming both hosts and
// saying what to write instead. Before, the error said only "hosted on 2
// nodes", and a user whose file (an export of a CMDB, say) gives the node
// many relationships could not tell which of them to change, nor into
// what.
func TestHunt15TwoHostsNamed(t *testing.T) {
	file := hunt15Shop + `      - {id: tomcat-2, template: tomcat_server}
      - {id: tomcat-3, template: tomcat_server}
      - id: shop-1
        template: shop_app
        relationships:
          - {relation: depends_on, target: tomcat-3}
          - {relation: hosted_on, target: tomcat-1}
          - {relation: hosted_on, target: tomcat-2}
`
	msg := invalidYAML(t, file)
	assert.Contains(t, msg, `node "shop-1"`)
	assert.Contains(t, msg, `"tomcat-1"`, "names the first host: %s", msg)
	assert.Contains(t, msg, `"tomcat-2"`, "names the second host: %s", msg)
	assert.NotContains(t, msg, `"tomcat-3"`, "names only the hosts: %s", msg)
	assert.Contains(t, msg, "depends_on", "says what to write instead: %s", msg)
}

// Test: a platform node that two applications share, listed in both, is
// refused naming the application that lists it first and saying that a
// relationship may name another application's node, as a template listed
// twice is. Before, the error said only "duplicate node ID", and a user
// who had listed the shared node under each application, a first mistake
// the documentation's "platforms are shared" invites, was not told where
// the other was nor how a node is shared.
func TestHunt15DuplicateNodeNamesItsApplication(t *testing.T) {
	file := hunt15Shop + `      - {id: shop-1, template: shop_app, relationships: [{relation: hosted_on, target: tomcat-1}]}
  - id: billing
    templates:
      - {id: billing_app, type: webapp, version: 2.0.0}
    nodes:
      - {id: tomcat-1, template: tomcat_server}
      - {id: billing-1, template: billing_app, relationships: [{relation: hosted_on, target: tomcat-1}]}
`
	msg := invalidYAML(t, file)
	assert.Contains(t, msg, `node "tomcat-1"`)
	assert.Contains(t, msg, `application "shop"`, "names where the node is listed first: %s", msg)
	assert.Contains(t, msg, "another application", "says how a node is shared: %s", msg)
}

// invalidYAML returns the message of the error of reading file, a YAML
// topology that must be refused as invalid.
func invalidYAML(t *testing.T, file string) string {
	t.Helper()
	m, err := topology.ReadYAML(strings.NewReader(file))
	require.Error(t, err)
	assert.Nil(t, m)
	assert.ErrorIs(t, err, topology.ErrInvalid)
	return err.Error()
}
