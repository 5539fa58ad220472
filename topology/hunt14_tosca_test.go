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

// Test: a relationship of an instance file that gives neither the
// requirement it fulfils nor a relation, or a relation stackup does not
// know, is refused naming the instance file's line and saying that a
// requirement may be given instead, not as Validate's `unknown relation
// ""` of a field the relationship need not hold.
func TestHunt14TOSCAInstanceRelationshipWithoutKind(t *testing.T) {
	for _, rel := range []string{"{target: tomcat-1}", "{relation: HostedOn, target: tomcat-1}"} {
		inst := "schema: stackup.instances/v1\napplication: shop\nnodes:\n  - {id: tomcat-1, template: tomcat_server}\n" +
			"  - id: shop-1\n    template: shop_app\n    relationships:\n      - " + rel + "\n"
		m, err := topology.ReadTOSCA(strings.NewReader(hunt14Service), strings.NewReader(inst))
		require.Error(t, err, rel)
		assert.Nil(t, m)
		assert.ErrorIs(t, err, topology.ErrInvalid)
		msg := err.Error()
		assert.Contains(t, msg, "instance file line 8", "names the line: %s", msg)
		assert.Contains(t, msg, `node "shop-1"`, msg)
		assert.Contains(t, msg, "requirement: host", "says a requirement may be given: %s", msg)
		assert.Contains(t, msg, "relation: hosted_on", msg)
	}
}

// Test: a requirement that names a node type, as TOSCA lets a requirement
// leave the template for an orchestrator to pick, is refused saying which
// node template is of that type and to name it; one that names nothing
// known says to add the node template or name one of those held.
func TestHunt14TOSCARequirementNamesANodeType(t *testing.T) {
	inst := "schema: stackup.instances/v1\napplication: shop\nnodes:\n  - {id: tomcat-1, template: tomcat_server}\n"
	for target, want := range map[string]string{
		"tomcat":  `no node template "tomcat": it is the type of node template "tomcat_server": name the node template, such as "node: tomcat_server"`,
		"tomcat9": `no node template "tomcat9": add it to topology_template.node_templates, or name one of the node templates there`,
	} {
		service := strings.Replace(hunt14Service, "- host: tomcat_server", "- host: "+target, 1)
		m, err := topology.ReadTOSCA(strings.NewReader(service), strings.NewReader(inst))
		require.Error(t, err, target)
		assert.Nil(t, m)
		assert.ErrorIs(t, err, topology.ErrInvalid)
		assert.Contains(t, err.Error(), "line 8: node_templates.shop_app.requirements[0].host")
		assert.Contains(t, err.Error(), want)
	}
}

// Test: a stackup topology file, or the instance file, given to ReadTOSCA
// as the service template is refused saying what the file is and what to
// do with it, not with the advice to give "a copy of the service template
// without "schema"", which would make it no more of one.
func TestHunt14TOSCAServiceTemplateOfAnotherKind(t *testing.T) {
	inst := "schema: stackup.instances/v1\napplication: shop\nnodes:\n  - {id: tomcat-1, template: tomcat_server}\n"
	for name, tt := range map[string]struct{ service, want string }{
		"instance file, its schema not first": {"application: shop\nschema: stackup.instances/v1\nnodes: []\n",
			`line 2: schema: invalid topology: the file is an instance file`},
		"topology file": {"schema: stackup.topology/v1\napplications: []\n",
			`line 1: schema: invalid topology: the file is a stackup topology file ("stackup.topology/v1"), not a TOSCA service template: read it with ReadYAML or Load`},
		"instance file": {inst,
			`line 1: schema: invalid topology: the file is an instance file ("stackup.instances/v1"), not a TOSCA service template: give the service template first and the instance file second`},
	} {
		t.Run(name, func(t *testing.T) {
			m, err := topology.ReadTOSCA(strings.NewReader(tt.service), strings.NewReader(inst))
			require.Error(t, err)
			assert.Nil(t, m)
			assert.ErrorIs(t, err, topology.ErrInvalid)
			assert.NotContains(t, err.Error(), "without \"schema\"")
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// Test: a node template whose type YAML reads as null ("type: null",
// "type: ~") has no type, as ReadYAML reads such a field: ReadTOSCA took
// the text, and made a template of type "null", for which no package is
// ever found, or refused "~" as an identifier.
func TestHunt14TOSCANullType(t *testing.T) {
	inst := "schema: stackup.instances/v1\napplication: shop\nnodes:\n  - {id: tomcat-1, template: tomcat_server}\n"
	for _, null := range []string{"null", "~", "Null", "NULL"} {
		service := strings.Replace(hunt14Service, "type: tomcat\n", "type: "+null+"\n", 1)
		m, err := topology.ReadTOSCA(strings.NewReader(service), strings.NewReader(inst))
		require.Error(t, err, "type: %s", null)
		assert.Nil(t, m)
		assert.ErrorIs(t, err, topology.ErrInvalid)
		assert.Contains(t, err.Error(), "node_templates.tomcat_server: invalid topology: no type", "type: %s", null)
	}
}

// Test: a node_filter with two valid_values is refused saying what to
// write, not only "a second valid_values": TOSCA reads the two as both
// holding, which one list of the versions in both says.
func TestHunt14TOSCASecondValidValuesSaysWhatToDo(t *testing.T) {
	inst := "schema: stackup.instances/v1\napplication: shop\nnodes:\n  - {id: tomcat-1, template: tomcat_server}\n"
	service := strings.Replace(hunt14Service, "- host: tomcat_server",
		"- host: {node: tomcat_server, node_filter: {properties: [{version: {valid_values: [9.0.1, 9.0.2]}}, {component_version: {valid_values: [9.0.2, 9.0.3]}}]}}", 1)
	m, err := topology.ReadTOSCA(strings.NewReader(service), strings.NewReader(inst))
	require.Error(t, err)
	assert.Nil(t, m)
	assert.Contains(t, err.Error(), `a second valid_values: a node_filter takes one; write one valid_values of the versions that every one allows`)
}

// Test: a key given twice in a service template is refused saying what to
// do, as ReadYAML says it of a topology file, not only where the first
// one is: YAML would keep one of the two in silence, and which one a
// reader expects is not for stackup to guess.
func TestHunt14TOSCADuplicateKeySaysWhatToDo(t *testing.T) {
	inst := "schema: stackup.instances/v1\napplication: shop\nnodes:\n  - {id: tomcat-1, template: tomcat_server}\n"
	service := strings.Replace(hunt14Service, "      properties: {version: 9.0.1}\n", "      properties: {version: 9.0.1}\n      properties: {version: 10.1.2}\n", 1)
	m, err := topology.ReadTOSCA(strings.NewReader(service), strings.NewReader(inst))
	require.Error(t, err)
	assert.Nil(t, m)
	assert.Contains(t, err.Error(), "line 12: node_templates.tomcat_server.properties: invalid topology: duplicate key (also on line 11): give each key once; remove one of the two, or merge them")
}
