package topology_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// hunt9Service is a TOSCA Simple Profile 1.3 service template as an
// operator exports it: descriptions, metadata, a dsl_definitions anchor,
// inputs read with get_input, requirements in short and long form,
// capabilities, node_filter in its several shapes, and versions that YAML
// would read as numbers (18.04, 1.10). Each of its constructs is read.
const hunt9Service = `tosca_definitions_version: tosca_simple_yaml_1_3
description: >-
  Ticket shop on Tomcat, with its database, as deployed by the ops team.
metadata:
  template_name: ticket-shop
  template_author: ops
  template_version: "2.3"
dsl_definitions:
  jvm_filter: &jvm_filter
    properties:
      - component_version: { greater_or_equal: 11 }
      - component_version: { less_than: 22 }
node_types:
  example.nodes.Tomcat:
    derived_from: tosca.nodes.WebServer
    properties:
      component_version: { type: version }
topology_template:
  description: The shop's stack.
  inputs:
    tomcat_version:
      type: version
      default: 9.0.85
      constraints:
        - valid_values: [ 9.0.85, 10.1.18 ]
    os_version:
      type: version
      default: 18.04
  node_templates:
    shop_app:
      type: tosca.nodes.WebApplication
      description: the shop
      properties:
        component_version: 1.10
        context_root: /shop
      requirements:
        - host:
            node: tomcat_server
            capability: tosca.capabilities.Container
            relationship: tosca.relationships.HostedOn
            node_filter:
              properties:
                - component_version: { in_range: [ 9.0, 10.1.99 ] }
        - database:
            node: shop_db
            relationship:
              type: tosca.relationships.ConnectsTo
              properties: { credential: { user: shop } }
            node_filter:
              properties:
                - version: [ { greater_or_equal: 12 }, { less_than: 17 } ]
      interfaces:
        Standard:
          create: scripts/deploy.sh
    tomcat_server:
      type: example.nodes.Tomcat
      properties:
        component_version: { get_input: tomcat_version }
        port: 8080
      capabilities:
        data_endpoint:
          properties: { port: 8080 }
      requirements:
        - host:
            node: jvm
            node_filter: *jvm_filter
    jvm:
      type: example.nodes.OpenJDK
      properties: { version: 17.0.10 }
      requirements:
        - host: vm
    shop_db:
      type: tosca.nodes.Database
      properties: { version: "15" }
      requirements:
        - host:
            node: vm
            node_filter:
              properties:
                - version: { valid_values: [ 18.04, 20.04, 22.04 ] }
    vm:
      type: tosca.nodes.Compute
      properties: { version: { get_input: os_version } }
      attributes: { private_address: 10.0.0.5 }
      artifacts:
        image: { file: images/ubuntu.qcow2, type: tosca.artifacts.Deployment.Image.VM.QCOW2 }
  outputs:
    shop_url:
      value: { get_attribute: [ vm, private_address ] }
`

const hunt9Instances = `schema: stackup.instances/v1
application: shop
nodes:
  - { id: vm-1, template: vm }
  - id: jvm-1
    template: jvm
    relationships: [ { requirement: host, target: vm-1 } ]
  - id: tomcat-1
    template: tomcat_server
    version: 9.0.80            # behind its template's 9.0.85
    relationships: [ { requirement: host, target: jvm-1 } ]
  - id: db-1
    template: shop_db
    relationships: [ { requirement: host, target: vm-1 } ]
  - id: shop-1
    template: shop_app
    relationships:
      - { requirement: host, target: tomcat-1 }
      - { requirement: database, target: db-1 }
`

func TestHunt9TOSCAServiceTemplate(t *testing.T) {
	const host, dep = topology.HostedOn, topology.DependsOn
	want := mustNew(t, topology.Application{
		ID: "shop",
		Templates: []topology.Template{
			{ID: "shop_app", Type: "tosca.nodes.WebApplication", Version: v("1.10"), Requirements: reqs(
				req("host", "tomcat_server", host, ">=9.0.0, <=10.1.99"),
				req("database", "shop_db", dep, ">=12.0.0, <17.0.0"))},
			{ID: "tomcat_server", Type: "example.nodes.Tomcat", Version: v("9.0.85"), Requirements: reqs(
				req("host", "jvm", host, ">=11.0.0, <22.0.0"))},
			{ID: "jvm", Type: "example.nodes.OpenJDK", Version: v("17.0.10"), Requirements: reqs(req("host", "vm", host, ""))},
			{ID: "shop_db", Type: "tosca.nodes.Database", Version: v("15"), Requirements: reqs(
				req("host", "vm", host, "=18.4.0 || =20.4.0 || =22.4.0"))},
			{ID: "vm", Type: "tosca.nodes.Compute", Version: v("18.04")},
		},
		Nodes: []topology.Node{
			{ID: "vm-1", Template: "vm"},
			{ID: "jvm-1", Template: "jvm", Relationships: rels(hostedOn("vm-1"))},
			{ID: "tomcat-1", Template: "tomcat_server", Version: v("9.0.80"), Relationships: rels(hostedOn("jvm-1"))},
			{ID: "db-1", Template: "shop_db", Relationships: rels(hostedOn("vm-1"))},
			{ID: "shop-1", Template: "shop_app", Relationships: rels(hostedOn("tomcat-1"), dependsOn("db-1"))},
		},
	})
	// As written, and as Windows tools save it: CRLF line endings after a
	// byte-order mark.
	for name, conv := range map[string]func(string) string{
		"as written": func(s string) string { return s },
		"CRLF, BOM":  func(s string) string { return "\ufeff" + strings.ReplaceAll(s, "\n", "\r\n") },
	} {
		t.Run(name, func(t *testing.T) {
			got, err := readTOSCA(conv(hunt9Service), conv(hunt9Instances))
			require.NoError(t, err)
			assert.Equal(t, want.Applications(), got.Applications())
			app, err := got.Application(t.Context(), "shop")
			require.NoError(t, err)
			shop, _ := app.Template("shop_app")
			assert.Equal(t, "1.10", shop.Version.String(), "1.10 is not read as the number 1.1")
			assert.True(t, shop.Requirements[0].Constraint.Allows(v("10.1.18")))
			assert.False(t, shop.Requirements[0].Constraint.Allows(v("11.0.0")))
		})
	}
}

// Each construct ReadTOSCA does not read is refused with an error that
// names it and its line, and says what to do, rather than dropped.
func TestHunt9TOSCAUnsupportedSayWhatToDo(t *testing.T) {
	node := func(extra string) string {
		return strings.Replace(hunt9Service, "    vm:\n      type: tosca.nodes.Compute\n", "    vm:\n      type: tosca.nodes.Compute\n"+extra, 1)
	}
	req := func(extra string) string {
		return strings.Replace(hunt9Service, "        - host: vm\n", "        - host:\n            node: vm\n"+extra, 1)
	}
	top := func(extra string) string {
		return strings.Replace(hunt9Service, "  outputs:\n", extra+"  outputs:\n", 1)
	}
	tests := []struct {
		name, service, construct, line string
	}{
		{"imports", strings.Replace(hunt9Service, "description: >-\n", "imports:\n  - file: types/shop-types.yaml\ndescription: >-\n", 1), "imports", "imports:"},
		{"substitution_mappings", top("  substitution_mappings:\n    node_type: example.nodes.Shop\n"), "topology_template.substitution_mappings", "  substitution_mappings:"},
		{"groups", top("  groups:\n    web: { type: tosca.groups.Root, members: [ shop_app ] }\n"), "topology_template.groups", "  groups:"},
		{"policies", top("  policies:\n    - scale: { type: tosca.policies.Scaling, targets: [ shop_app ] }\n"), "topology_template.policies", "  policies:"},
		{"workflows", top("  workflows:\n    deploy: { steps: {} }\n"), "topology_template.workflows", "  workflows:"},
		{"relationship_templates", top("  relationship_templates:\n    db_conn: { type: tosca.relationships.ConnectsTo }\n"), "topology_template.relationship_templates", "  relationship_templates:"},
		{"directives", node("      directives: [ select ]\n"), "node_templates.vm.directives", "      directives:"},
		{"copy", node("      copy: jvm\n"), "node_templates.vm.copy", "      copy:"},
		{"node-level node_filter", node("      node_filter: { properties: [ { num_cpus: { equal: 2 } } ] }\n"), "node_templates.vm.node_filter", "      node_filter: { properties"},
		{"occurrences", req("            occurrences: [ 1, 1 ]\n"), "node_templates.jvm.requirements[0].host.occurrences", "            occurrences:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := readTOSCA(tt.service, hunt9Instances)
			require.Error(t, err)
			assert.Nil(t, m)
			var te *topology.Error
			require.True(t, errors.As(err, &te), "a *topology.Error: %v", err)
			assert.ErrorIs(t, err, topology.ErrInvalid)
			line := lineOf(t, tt.service, tt.line)
			assert.Equal(t, "line "+strconv.Itoa(line)+": "+tt.construct, te.Item)
			key := tt.construct[strings.LastIndexByte(tt.construct, '.')+1:]
			assert.Contains(t, err.Error(), "not supported: stackup reads the types, versions and requirements of node templates only; "+
				"give it a copy of the service template without \""+key+"\", with each node template written out in full")
		})
	}
}

// An orchestrator that exports a deployed service template gives each
// input the value the deployment was given ("value", TOSCA 1.3 parameter
// definitions) beside its default: the nodes run the value, which must
// win, in whichever order the two are written.
func TestHunt9TOSCAInputValueWinsOverDefault(t *testing.T) {
	for name, input := range map[string]string{
		"value after default":  "      default: 9.0.85\n      value: 10.1.18\n",
		"value before default": "      value: 10.1.18\n      default: 9.0.85\n",
		"value alone":          "      value: 10.1.18\n",
	} {
		t.Run(name, func(t *testing.T) {
			service := strings.Replace(hunt9Service, "      default: 9.0.85\n", input, 1)
			m, err := readTOSCA(service, strings.Replace(hunt9Instances, "version: 9.0.80", "version: 10.1.0", 1))
			require.NoError(t, err)
			tomcat, err := m.Template(t.Context(), "tomcat_server")
			require.NoError(t, err)
			assert.Equal(t, "10.1.18", tomcat.Version.String())
		})
	}
	t.Run("neither", func(t *testing.T) {
		service := strings.Replace(hunt9Service, "      default: 9.0.85\n", "", 1)
		_, err := readTOSCA(service, hunt9Instances)
		require.ErrorIs(t, err, topology.ErrInvalid)
		assert.ErrorContains(t, err, `line `+strconv.Itoa(lineOf(t, service, "{ get_input: tomcat_version }"))+
			`: node_templates.tomcat_server.properties.component_version: invalid topology: get_input of "tomcat_version", an input with no default or value: give the input the version deployed as its default`)
	})
	t.Run("value not a version", func(t *testing.T) {
		service := strings.Replace(hunt9Service, "      default: 9.0.85\n", "      value: [ 10, 1 ]\n", 1)
		_, err := readTOSCA(service, hunt9Instances)
		require.ErrorIs(t, err, topology.ErrInvalid)
		assert.ErrorContains(t, err, "inputs.tomcat_version.value: invalid topology: want a single value")
	})
}

// A requirement's relationship in long form keeps its properties and
// interfaces to itself; any other key (a misspelt "type" beside the
// right one, a node_filter put one level too deep) is refused, naming it,
// not dropped.
func TestHunt9TOSCARelationshipKeys(t *testing.T) {
	const rel = "              type: tosca.relationships.ConnectsTo\n"
	service := strings.Replace(hunt9Service, rel, rel+"              tpye: tosca.relationships.HostedOn\n", 1)
	_, err := readTOSCA(service, hunt9Instances)
	require.ErrorIs(t, err, topology.ErrInvalid)
	assert.ErrorContains(t, err, "line "+strconv.Itoa(lineOf(t, service, "tpye:"))+
		": node_templates.shop_app.requirements[1].database.relationship.tpye: invalid topology: unknown key \"tpye\": a misspelling of \"type\"?")
}

// TestTOSCAVersionNotText: a tosca_definitions_version written as a
// mapping or a list was refused as `"" is not a TOSCA Simple Profile
// version`, naming a value the file does not hold; it is refused as what
// it is, on its line. An alias of the right text is read as that text.
func TestTOSCAVersionNotText(t *testing.T) {
	read := func(version string) error {
		_, err := topology.ReadTOSCA(strings.NewReader("dsl_definitions:\n  v: &v tosca_simple_yaml_1_3\n"+
			"tosca_definitions_version: "+version+"\ntopology_template:\n  node_templates: {}\n"), strings.NewReader(""))
		return err
	}
	for _, v := range []string{"{tosca_simple_yaml_1_3: x}", "[tosca_simple_yaml_1_3]"} {
		err := read(v)
		require.ErrorIs(t, err, topology.ErrInvalid, v)
		assert.Contains(t, err.Error(), "line 3: tosca_definitions_version", v)
		assert.Contains(t, err.Error(), "want a single value", v)
		assert.NotContains(t, err.Error(), `""`, v)
	}
	// Read past its version, the service template is whole: what is
	// refused is the empty instance file given with it.
	err := read("*v")
	require.ErrorIs(t, err, topology.ErrInvalid)
	assert.Contains(t, err.Error(), "empty file")
	assert.NotContains(t, err.Error(), "tosca_definitions_version")
}
