package topology_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// hunt14Service is a service template of two node templates, the first
// hosted on the second.
const hunt14Service = `tosca_definitions_version: tosca_simple_yaml_1_3
topology_template:
  node_templates:
    shop_app:
      type: webapp
      properties: {version: 1.0.0}
      requirements:
        - host: tomcat_server
    tomcat_server:
      type: tomcat
      properties: {version: 9.0.1}
`

// Test: an instance file without "application" is refused with an error
// that names the instance file's field and says what to write, not as
// "application #1: no ID", a name the instance file does not hold (it
// gives one application, by that field).
func TestHunt14TOSCAInstancesWithoutApplication(t *testing.T) {
	inst := "schema: stackup.instances/v1\nnodes:\n  - {id: tomcat-1, template: tomcat_server}\n"
	m, err := topology.ReadTOSCA(strings.NewReader(hunt14Service), strings.NewReader(inst))
	require.Error(t, err)
	assert.Nil(t, m)
	assert.ErrorIs(t, err, topology.ErrInvalid)
	msg := err.Error()
	assert.NotContains(t, msg, "application #1")
	assert.Contains(t, msg, "instance file")
	assert.Contains(t, msg, `"application"`, "names the field: %s", msg)
	assert.Contains(t, msg, "application: shop", "says what to write: %s", msg)
}
