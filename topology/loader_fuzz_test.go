package topology_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// checkRefusal asserts what every refusal of a reader must be: no
// topology, an error matching ErrInvalid or ErrCycle, held in a
// *topology.Error.
func checkRefusal(t *testing.T, m *topology.Memory, err error) {
	t.Helper()
	assert.Nil(t, m)
	assert.True(t, errors.Is(err, topology.ErrInvalid) || errors.Is(err, topology.ErrCycle),
		"error matches neither ErrInvalid nor ErrCycle: %v", err)
	var te *topology.Error
	assert.ErrorAs(t, err, &te)
}

// checkJSONRoundTrip asserts that what a reader accepted survives WriteJSON
// and ReadJSON unchanged.
func checkJSONRoundTrip(t *testing.T, m *topology.Memory) {
	t.Helper()
	require.NotNil(t, m)
	var out bytes.Buffer
	require.NoError(t, m.WriteJSON(&out))
	back, err := topology.ReadJSON(bytes.NewReader(out.Bytes()))
	require.NoError(t, err, "ReadJSON rejects what WriteJSON wrote:\n%s", out.Bytes())
	require.Equal(t, normalize(m.Applications()), normalize(back.Applications()))
}

func readAll(f *testing.F, pattern string) map[string]string {
	f.Helper()
	names, err := filepath.Glob(pattern)
	require.NoError(f, err)
	files := map[string]string{}
	for _, name := range names {
		data, err := os.ReadFile(name)
		require.NoError(f, err)
		files[name] = string(data)
	}
	return files
}

// FuzzReadYAML checks that ReadYAML never panics, that every error it
// returns matches ErrInvalid or ErrCycle, and that whatever it accepts
// survives WriteJSON and ReadJSON unchanged.
func FuzzReadYAML(f *testing.F) {
	files := readAll(f, "testdata/*.y*ml")
	require.Contains(f, files, shopYAMLFile)
	require.Contains(f, files, intranetFile)
	for _, data := range files {
		f.Add([]byte(data))
	}
	shop := files[shopYAMLFile]
	for _, broken := range []string{
		shop[:len(shop)/3],
		shop + "---\n" + shop,
		"\ufeff" + shop, // a byte-order mark
		strings.Replace(shop, "        type: jdk\n", "\ttype: jdk\n", 1),
		strings.Replace(shop, "{id: vm-1, template: ubuntu_os}", "{id: vm-1, template: ubuntu_os, relationships: [{relation: depends_on, target: shop-1}]}", 1), // a cycle
		strings.Replace(shop, "version: 8.5.100", "version: [8, 5, 100]", 1),
		strings.Replace(shop, "version: 8.5.100", "version: !!binary OC41LjEwMA==", 1),
		strings.Replace(shop, `">=8.5, <9"`, `"~8.5 || ^9.0.0-0"`, 1),
		strings.Replace(shop, `">=8.5, <9"`, `>=8.5, <9`, 1), // unquoted: YAML syntax
		strings.Replace(shop, `">=8.5, <9"`, `*`, 1),
		strings.Replace(shop, `">=8.5, <9"`, `">=8.5 ||"`, 1),
		"", "# nothing\n",
		strings.Replace(shop, "relation: hosted_on, target: vm-2", "relation: runs_on, target: vm-2", 1),
		shop + "colour: blue\n", // an unknown field
		strings.Replace(shop, "{id: tomcat-1,", "{id: \"tomcat-1$(touch pwned)\",", 1), // hostile identifiers
		strings.Replace(shop, "{id: shop-1,", "{id: \"x\\nFAKE LINE\\e[2J\",", 1),
		readTestdata(f, shopFile), // JSON is YAML
		"schema: &s stackup.topology/v1\napplications:\n  - &a {id: a, templates: [{id: t, type: x, version: 1.2}], nodes: [{id: n, template: t}]}\n",
		"schema: stackup.topology/v1\napplications:\n  - id: a\n    templates:\n      - &t {id: t, type: x, version: 8.10}\n      - {<<: *t, id: u}\n",
		"schema: stackup.topology/v1\napplications: [{id: \"\\x7f\\u2028\\U0001F600\", templates: [], nodes: []}]\n",
		"a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c]\n",
		"{schema: stackup.topology/v1, applications: []}",
		"schema: stackup.topology/v1\napplications: ~\n",
		"schema: stackup.topology/v1\napplications: [~, {}]\n",
		"schema: stackup.topology/v1\nschema: stackup.topology/v1\n",
		"- schema: stackup.topology/v1\n",
		"--- |\n  text\n",
		"schema: stackup.topology/v1\n...\n",
		"schema: stackup.topology/v1\napplications: &apps\n  - id: a\n    templates: *apps\n", // an alias within its node
		strings.Replace(shop, "version: 8.5.96", "version: 0.0.0", 1),
		"",
		"\"",
	} {
		f.Add([]byte(broken))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := topology.ReadYAML(bytes.NewReader(data))
		if err != nil {
			checkRefusal(t, m, err)
			return
		}
		checkJSONRoundTrip(t, m)
	})
}

// checkTOSCARequirements asserts what holds of every requirement of a
// service template ReadTOSCA accepts: it names a node template of the
// application, and its constraint compares with exact versions only
// (8.5.0, never the partial 8.5).
func checkTOSCARequirements(t *testing.T, m *topology.Memory) {
	t.Helper()
	for _, a := range m.Applications() {
		for _, tmpl := range a.Templates {
			for _, r := range tmpl.Requirements {
				_, ok := a.Template(r.Template)
				require.True(t, ok, "template %q: requirement %q names no template: %q", tmpl.ID, r.Name, r.Template)
				require.NotEmpty(t, r.Template)
				if r.Constraint.IsZero() {
					continue
				}
				for _, alt := range strings.Split(r.Constraint.String(), "||") {
					for _, clause := range strings.Split(alt, ",") {
						operand := strings.TrimLeft(strings.TrimSpace(clause), "=<>")
						ver, err := version.Parse(operand)
						require.NoError(t, err, "constraint %q", r.Constraint)
						require.Equal(t, ver.String(), operand, "constraint %q: not an exact version", r.Constraint)
					}
				}
			}
		}
	}
}

// FuzzReadTOSCA checks that ReadTOSCA never panics, that every error it
// returns matches ErrInvalid or ErrCycle and names no file, and that
// whatever it accepts survives WriteJSON and ReadJSON unchanged, requires
// only templates that exist and constrains with exact versions. When instances is false, data
// is a service template read with testdata/tosca/shop-instances.yaml; when
// true, data is an instance file read with testdata/tosca/shop.yaml.
func FuzzReadTOSCA(f *testing.F) {
	files := readAll(f, "testdata/tosca/*.yaml")
	service, instances := files[toscaShop], files[toscaShopInstances]
	require.NotEmpty(f, service)
	require.NotEmpty(f, instances)
	for name, data := range files {
		f.Add(strings.HasSuffix(name, "-instances.yaml"), []byte(data))
	}
	for _, broken := range []string{
		service[:len(service)/2],
		service + "---\n",
		strings.Replace(service, "tosca_simple_yaml_1_3", "tosca_simple_yaml_2_0", 1),
		strings.Replace(service, "description: >", "imports: [ types.yaml ]\ndescription: >", 1),
		strings.Replace(service, "{ greater_or_equal: 8 }", `{ pattern: "8.*" }`, 1),
		strings.Replace(service, "{ greater_or_equal: 8 }", "{ valid_values: [ 8, 11, 17 ] }", 1),
		strings.Replace(service, "{ greater_or_equal: 8 }", "[ { valid_values: [ 8 ] }, { valid_values: [ 11 ] } ]", 1),
		strings.Replace(service, "in_range: [ 8.5, 8.99 ]", "in_range: [ 8.5 ]", 1),
		strings.Replace(service, "in_range: [ 8.5, 8.99 ]", "in_range: [ 8.5, UNBOUNDED ]", 1),
		strings.Replace(service, "version: 8.0.402", "version: { get_property: [ SELF, v ] }", 1),
		strings.Replace(service, "version: 8.0.402", "version: { get_input: nothing }", 1),
		strings.Replace(service, "version: 8.0.402", "version: { get_input: [ tomcat_version ] }", 1),
		strings.Replace(service, "- host: web_server_os", "- host: ~", 1),
		strings.Replace(service, "- host: web_server_os", "- host: { node: web_server_os, relationship: { type: tosca.relationships.AttachesTo } }", 1),
		strings.Replace(service, "- host: db_os", "- host: shop_app", 1), // a cycle of requirements is no cycle of nodes
		strings.Replace(service, "    db_os:\n", "    db_os: &os\n", 1) + "    other_os: *os\n",
		"tosca_definitions_version: tosca_simple_yaml_1_0\ntopology_template:\n  node_templates: {}\n",
		// Operands are exact versions; anything else is refused.
		strings.Replace(service, "{ greater_or_equal: 8 }", "{ equal: 8.5, less_or_equal: 8.99, greater_than: 8 }", 1),
		strings.Replace(service, "{ greater_or_equal: 8 }", "{ greater_or_equal: eight }", 1),
		strings.Replace(service, "{ greater_or_equal: 8 }", "{ greater_or_equal: v8.0.1-rc.1+b.7 }", 1),
		strings.Replace(service, "{ greater_or_equal: 8 }", "{ valid_values: [ 8, UNBOUNDED ] }", 1),
		strings.Replace(service, "in_range: [ 8.5, 8.99 ]", "in_range: [ UNBOUNDED, 8.99 ]", 1),
		strings.Replace(service, "in_range: [ 8.5, 8.99 ]", "in_range: [ &lo 8.5, *lo ]", 1),
		strings.Replace(service, "in_range: [ 8.5, 8.99 ]", "in_range: [ 9, 8 ]", 1),
		// Duplicate keys, merge keys and aliases.
		strings.Replace(service, "        version: 8.0.402\n", "        version: 8.0.402\n        version: 8.0.392\n", 1),
		strings.Replace(service, "        version: 8.0.402\n", "        <<: { version: 8.0.402 }\n", 1),
		strings.Replace(service, "tosca_definitions_version: tosca_simple_yaml_1_3\n", "tosca_definitions_version: tosca_simple_yaml_1_3\n<<: { description: x }\n", 1),
		strings.Replace(service, "description: >", "description: x\ndescription: >", 1),
		strings.Replace(service, "    db_os:\n", "    web_server_os:\n", 1),
		strings.Replace(service, "relationship: tosca.relationships.ConnectsTo", "relationship: { type: DependsOn, type: HostedOn }", 1),
		strings.Replace(service, "            node: shop_db\n", "            node: &db shop_db\n            capability: *db\n", 1),
		// Requirement targets: null, empty or unknown.
		strings.Replace(service, "- host: db_os", "- host:", 1),
		strings.Replace(service, "- host: db_os", "- host: ''", 1),
		strings.Replace(service, "            node: shop_db\n", "            node: ~\n", 1),
		strings.Replace(service, "- host: db_os", "- host: db_vm", 1),
		// Versions: one value or one function.
		strings.Replace(service, "version: 8.0.402", "version: { get_input: tomcat_version, get_property: v }", 1),
		strings.Replace(service, "version: 8.0.402", "version: {}", 1),
		strings.Replace(service, "component_version: 12.18", "component_version: 12.x", 1),
		// Constraints too long once multiplied out; aliases past the budget.
		strings.Replace(service, "{ greater_or_equal: 8 }", "[ { valid_values: [ 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19 ] }, { greater_or_equal: 8 }, { less_than: 99 } ]", 1),
		strings.Replace(service, "{ greater_or_equal: 8 }", "{ valid_values: [ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26 ] }", 1),
		strings.Replace(service, "description: >", "dsl_definitions:\n"+laughs("  ", 6)+"description: >", 1),
		strings.Replace(service, "    db_os:\n", "    db_os: &os\n      requirements: [ { host: *os } ]\n", 1),
	} {
		f.Add(false, []byte(broken))
	}
	for _, broken := range []string{
		instances[:len(instances)/2],
		strings.Replace(instances, "{requirement: database, target: shopdb-1}", "{requirement: database, relation: hosted_on, target: shopdb-1}", 1),
		strings.Replace(instances, "{requirement: database, target: shopdb-1}", "{requirement: nothing, target: shopdb-1}", 1),
		strings.Replace(instances, "{id: vm-db, template: db_os}", "{id: vm-db, template: db_os, relationships: [{relation: depends_on, target: shop-1}]}", 1),
		strings.Replace(instances, "version: 8.0.392", "version: [8, 0]", 1),
		strings.Replace(instances, "version: 8.0.392", "version: 0.0.0", 1),
		noInstances,
		"schema: stackup.instances/v1\napplication: ''\nnodes: [{id: x, template: db_os}, {id: x, template: db_os}]\n",
		"schema: stackup.instances/v1\nnodes: [{id: x, template: nothing, relationships: [{requirement: host, target: x}]}]\n",
	} {
		f.Add(true, []byte(broken))
	}

	f.Fuzz(func(t *testing.T, isInstances bool, data []byte) {
		s, i := []byte(service), []byte(instances)
		if isInstances {
			i = data
		} else {
			s = data
		}
		m, err := topology.ReadTOSCA(bytes.NewReader(s), bytes.NewReader(i))
		if err != nil {
			checkRefusal(t, m, err)
			for _, p := range topologyErrors(err) {
				require.Empty(t, p.File, "ReadTOSCA knows no file name: %v", p)
			}
			return
		}
		checkJSONRoundTrip(t, m)
		checkTOSCARequirements(t, m)
	})
}
