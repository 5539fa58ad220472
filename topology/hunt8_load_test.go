package topology_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// TOSCA 1.2 and 1.3 service templates may name the namespace of the types
// they define: documentation, like description, that bears on no version.
func TestHunt8TOSCANamespace(t *testing.T) {
	service := editFile(t, toscaShop, edit{toscaVersionLine, toscaVersionLine + "namespace: http://shop.example.com/tosca\n"})
	m, err := readTOSCA(service, readTestdata(t, toscaShopInstances))
	require.NoError(t, err)
	app, err := m.Application(t.Context(), "shop")
	require.NoError(t, err)
	tmpl, ok := app.Template("tomcat_server")
	require.True(t, ok)
	assert.Equal(t, "8.5.100", tmpl.Version.String())
}

// get_input names an input by name; the list form, which TOSCA uses to
// reach into an input's value, is refused saying so, not as an input
// named "" without a default.
func TestHunt8TOSCAGetInputList(t *testing.T) {
	service := editFile(t, toscaShop, edit{toscaShopTomcatVersion, "component_version: { get_input: [ tomcat_version, 0 ] }"})
	checkServiceErrors(t, []serviceError{{"a list", service, "get_input: [ tomcat_version, 0 ]",
		"node_templates.tomcat_server.properties.component_version", []string{"get_input", "the name of an input", "such as { get_input: tomcat_version }"}}})
}

// TOSCA lets a template list several requirements of one name, such as a
// "dependency" on each of two services. An instance relationship naming
// it fulfils the one whose template its target is a node of; it was
// matched to the first alone, and a node of the second refused.
func TestHunt8TOSCARequirementNameGivenTwice(t *testing.T) {
	mail := "    mail_relay:\n      type: example.nodes.Postfix\n      properties:\n        version: 3.8.4\n      requirements:\n        - host: app_server\n\n"
	service := editFile(t, toscaJBoss,
		edit{"        - dependency:\n            node: ldap_directory\n            capability: tosca.capabilities.Endpoint\n",
			"        - dependency:\n            node: ldap_directory\n            capability: tosca.capabilities.Endpoint\n" +
				"        - dependency:\n            node: mail_relay\n            node_filter:\n              properties:\n                - version: { greater_or_equal: 3.5 }\n"},
		edit{"    ldap_directory:\n", mail + "    ldap_directory:\n"})
	instances := strings.Replace(readTestdata(t, toscaJBossInstances), "      - {requirement: dependency, target: ldap-1}\n",
		"      - {requirement: dependency, target: ldap-1}\n      - {requirement: dependency, target: mail-1}\n", 1)
	instances = strings.Replace(instances, "  - {id: db-vm-1,", "  - {id: mail-1, template: mail_relay, relationships: [{requirement: host, target: app-vm-1}]}\n  - {id: db-vm-1,", 1)
	require.Equal(t, 2, strings.Count(instances, "mail-1"))

	m, err := readTOSCA(service, instances)
	require.NoError(t, err)
	deps, err := m.Dependents(t.Context(), "mail-1")
	require.NoError(t, err)
	require.Len(t, deps, 1)
	assert.Equal(t, topology.NodeID("intranet-1"), deps[0].Node)
	assert.Equal(t, ">=3.5.0", deps[0].Constraint.String())

	// A node of neither template is refused naming both.
	wrong := strings.Replace(instances, "{requirement: dependency, target: mail-1}", "{requirement: dependency, target: db-vm-1}", 1)
	_, err = readTOSCA(service, wrong)
	checkError(t, err, nil, fmt.Sprintf("instance file line %d: node \"intranet-1\"", lineOf(t, wrong, "dependency, target: db-vm-1}")),
		`requirement "dependency" names the templates "ldap_directory", "mail_relay", but node "db-vm-1" is a "db_server": give a node of one of them`)
}

// A mapping key YAML reads as null (~, null, NULL, an empty "?" key) was
// dropped with its value in silence: "~:" written for "nodes:" loaded an
// application without nodes. It is refused, naming its line, in topology
// and instance files.
func TestHunt8YAMLNullKeys(t *testing.T) {
	shop := readTestdata(t, "testdata/shop.yaml")
	for _, tt := range []struct{ name, key, msg string }{
		{"tilde", "    ~:\n", `YAML reads the key "~" as null`},
		{"null", "    null:\n", `YAML reads the key "null" as null`},
		{"NULL", "    NULL:\n", `YAML reads the key "NULL" as null`},
		{"empty explicit key", "    ?\n    :\n", "YAML reads an empty key as null"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.Replace(shop, "    nodes:\n", tt.key, 1)
			m, err := topology.ReadYAML(strings.NewReader(in))
			assert.Nil(t, m)
			checkError(t, err, nil, fmt.Sprintf("line %d", lineOf(t, in, tt.key)), tt.msg, "write the field's name there")
		})
	}
	t.Run("instance file", func(t *testing.T) {
		instances := strings.Replace(readTestdata(t, toscaShopInstances), "nodes:\n", "~:\n", 1)
		m, err := readTOSCA(readTestdata(t, toscaShop), instances)
		assert.Nil(t, m)
		checkError(t, err, nil, fmt.Sprintf("line %d", lineOf(t, instances, "~:")), `YAML reads the key "~" as null`)
	})
}

func utf16File(s string, bigEndian bool) string {
	b := []byte{0xff, 0xfe}
	if bigEndian {
		b = []byte{0xfe, 0xff}
	}
	for _, u := range utf16.Encode([]rune(s)) {
		if bigEndian {
			b = append(b, byte(u>>8), byte(u))
		} else {
			b = append(b, byte(u), byte(u>>8))
		}
	}
	return string(b)
}

// Windows PowerShell writes files as UTF-16 with a byte-order mark.
// ReadYAML read such a file, but ReadJSON said only "invalid character
// 'ÿ'"; it reads it now, and says what to do with a broken one.
func TestHunt8ReadJSONUTF16(t *testing.T) {
	shop := readTestdata(t, shopFile)
	want, err := topology.ReadJSON(strings.NewReader(shop))
	require.NoError(t, err)
	wantApp, err := want.Application(t.Context(), "shop")
	require.NoError(t, err)
	// A character outside the BMP, in a place that is not an identifier,
	// takes a surrogate pair.
	require.Equal(t, 1, strings.Count(shop, `"schema"`))
	for _, big := range []bool{false, true} {
		t.Run(fmt.Sprint("big endian ", big), func(t *testing.T) {
			for _, in := range []string{shop, strings.Replace(shop, `"schema"`, "\"\U0001F600\": 1, \"schema\"", 1)} {
				m, err := topology.ReadJSON(strings.NewReader(utf16File(in, big)))
				if in != shop {
					checkError(t, err, nil, "line 2, column 3", "\U0001F600")
					continue
				}
				require.NoError(t, err)
				app, err := m.Application(t.Context(), "shop")
				require.NoError(t, err)
				assert.Equal(t, wantApp, app)
			}
			y, err := topology.ReadYAML(strings.NewReader(utf16File(readTestdata(t, "testdata/shop.yaml"), big)))
			require.NoError(t, err, "ReadYAML reads UTF-16 too")
			_, err = y.Application(t.Context(), "shop")
			require.NoError(t, err)
		})
	}
	for name, in := range map[string]string{
		"odd length":         utf16File(shop, false) + "x",
		"unpaired surrogate": utf16File(shop[:10], false) + "\x00\xd8" + utf16File(shop[10:], false)[2:],
	} {
		t.Run(name, func(t *testing.T) {
			m, err := topology.ReadJSON(strings.NewReader(in))
			assert.Nil(t, m)
			checkError(t, err, nil, "file", "UTF-16", "save it as UTF-8")
		})
	}
}

// A tab in a line's indentation, as editors set for Makefiles write it,
// made YAML say "found character that cannot start any token", or name a
// tab on the line before the one that holds it. The error names the line
// indented with a tab and says to use spaces, in topology, service
// template and instance files.
func TestHunt8YAMLTabIndent(t *testing.T) {
	shop := readTestdata(t, "testdata/shop.yaml")
	const hint = "is indented with a tab, and YAML indents with spaces only: replace the tab with spaces"
	for _, tt := range []struct{ name, old, new string }{
		{"a key", "        type: ubuntu\n", "\t\ttype: ubuntu\n"},
		{"a list item", "      - id: ubuntu_os\n", "\t  - id: ubuntu_os\n"},
		{"a blank line", "    templates:\n", "    templates:\n  \t\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Contains(t, shop, tt.old)
			in := strings.Replace(shop, tt.old, tt.new, 1)
			m, err := topology.ReadYAML(strings.NewReader(in))
			assert.Nil(t, m)
			line := lineOf(t, in, tt.new)
			if strings.HasSuffix(tt.new, "\t\n") {
				line++ // the blank line after the marker's line
			}
			checkError(t, err, nil, "file", fmt.Sprintf("line %d %s", line, hint))
		})
	}
	t.Run("service template", func(t *testing.T) {
		service := toscaVersionLine + "topology_template:\n\tnode_templates: {}\n"
		_, err := readTOSCA(service, noInstances)
		checkError(t, err, nil, "file", "line 3 "+hint)
	})
	t.Run("a tab within a line is not at fault", func(t *testing.T) {
		in := strings.Replace(shop, "        type: ubuntu\n", "        type:\tubuntu\t# tabs\n", 1)
		_, err := topology.ReadYAML(strings.NewReader(in))
		require.NoError(t, err)
	})
}

// Files joined with "---", or written by a template engine such as
// Helm's, which puts a "---" before each document, hold several YAML
// documents or an empty one after the last. The error said only "more
// than one YAML document"; it names the line of the "---" and says what
// to do.
func TestHunt8YAMLSecondDocument(t *testing.T) {
	shop := readTestdata(t, "testdata/shop.yaml")
	lines := strings.Count(shop, "\n")
	for _, tt := range []struct{ name, in, msg string }{
		{"a trailing ---", shop + "---\n", fmt.Sprintf(`the "---" on line %d starts an empty one: remove it`, lines+1)},
		{"--- before and after", "---\n" + shop + "--- # end\n", fmt.Sprintf(`the "---" on line %d starts an empty one: remove it`, lines+2)},
		{"two topologies", shop + "---\n" + shop, fmt.Sprintf(`the "---" on line %d starts another: a file holds one document; put the other in a file of its own`, lines+1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := topology.ReadYAML(strings.NewReader(tt.in))
			assert.Nil(t, m)
			checkError(t, err, nil, "file", "more than one YAML document: "+tt.msg)
		})
	}
	t.Run("instance file", func(t *testing.T) {
		_, err := readTOSCA(readTestdata(t, toscaShop), noInstances+"---\n")
		checkError(t, err, nil, "file", `more than one YAML document: the "---" on line 4 starts an empty one: remove it`)
	})
}

// The YAML decoder compares every key of a mapping with every other and
// reports every pair that match: a topology or instance file of 10 kB
// giving one key a thousand times took seconds and made an error of tens
// of megabytes, and one of 50 kB took minutes and gigabytes. Such a file
// is refused naming the first key given twice, and a mapping of more keys
// than any structure of the file has fields is refused as it is.
func TestHunt8YAMLManyKeys(t *testing.T) {
	const n = 1000
	var unique strings.Builder
	for i := range n {
		fmt.Fprintf(&unique, "k%d: v\n", i)
	}
	for _, tt := range []struct{ name, body, item, instanceItem, msg string }{
		{"one key many times", strings.Repeat("k: v\n", n), "file", "instance file",
			`line 3: mapping key "k" already defined at line 2: a mapping gives each key once`},
		{"many keys", unique.String(), "line 1", "instance file line 1",
			fmt.Sprintf("a mapping of %d keys, where no mapping of this file has more than a few fields", n+1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := topology.ReadYAML(strings.NewReader("schema: " + topology.Schema + "\n" + tt.body))
			assert.Nil(t, m)
			checkError(t, err, nil, tt.item, tt.msg)
			assert.Less(t, len(err.Error()), 1000, "one problem, not one per pair of keys")

			_, err = readTOSCA(readTestdata(t, toscaShop), "schema: "+topology.InstancesSchema+"\n"+tt.body)
			checkError(t, err, nil, tt.instanceItem, tt.msg)
			assert.Less(t, len(err.Error()), 1000, "one problem, not one per pair of keys")
		})
	}
}

// An unknown field in each of many entries made one problem each in the
// error: a file of 1 MB made an error longer than the file. It lists the
// first ten and says how many more there are.
func TestHunt8YAMLManyProblemsBounded(t *testing.T) {
	const n = 5000
	in := "schema: " + topology.Schema + "\napplications:\n" + strings.Repeat("  - {id: shop, bogus: 1}\n", n)
	m, err := topology.ReadYAML(strings.NewReader(in))
	assert.Nil(t, m)
	checkError(t, err, nil, "file", `line 3: unknown field "bogus"`, `line 12: unknown field "bogus"`,
		fmt.Sprintf("and %d more problems of which these are the first", n-10))
	assert.NotContains(t, err.Error(), "line 13:")
	assert.Less(t, len(err.Error()), 1000)

	instances := "schema: " + topology.InstancesSchema + "\napplication: shop\nnodes:\n" + strings.Repeat("  - {id: n, bogus: 1}\n", n)
	_, err = readTOSCA(readTestdata(t, toscaShop), instances)
	checkError(t, err, nil, "instance file", fmt.Sprintf("and %d more problems of which these are the first", n-10))
	assert.Less(t, len(err.Error()), 1000)
}

// Tools that write YAML 1.2 begin a file with "%YAML 1.2". The parser
// knows the directive of YAML 1.1 alone and refused such a file with
// "found incompatible YAML document"; it is read, and lines keep their
// numbers in errors.
func TestHunt8YAML12Directive(t *testing.T) {
	shop := readTestdata(t, "testdata/shop.yaml")
	for _, directive := range []string{"%YAML 1.2\n", "%YAML 1.2 # written by a tool\r\n", "\ufeff%YAML 1.2\n", "%YAML 1.1\n"} {
		t.Run(strings.TrimSpace(directive), func(t *testing.T) {
			m, err := topology.ReadYAML(strings.NewReader(directive + "---\n" + shop))
			require.NoError(t, err)
			_, err = m.Application(t.Context(), "shop")
			require.NoError(t, err)

			bad := directive + "---\n" + strings.Replace(shop, "version: 18.04", "version: 18.04.x", 1)
			_, err = topology.ReadYAML(strings.NewReader(bad))
			checkError(t, err, nil, fmt.Sprintf(`line %d: template "ubuntu_os"`, lineOf(t, bad, "version: 18.04.x")))

			service := directive + "---\n" + readTestdata(t, toscaShop)
			instances := directive + "---\n" + readTestdata(t, toscaShopInstances)
			_, err = readTOSCA(service, instances)
			require.NoError(t, err)
		})
	}
	t.Run("a later version is still refused", func(t *testing.T) {
		_, err := topology.ReadYAML(strings.NewReader("%YAML 1.3\n---\n" + shop))
		checkError(t, err, nil, "file", "incompatible YAML document")
	})
}
