package topology_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// placeOf returns "line L, column C" of the first occurrence of sub in s.
func placeOf(t *testing.T, s, sub string) string {
	t.Helper()
	i := strings.Index(s, sub)
	require.GreaterOrEqual(t, i, 0, "%q not found", sub)
	return fmt.Sprintf("line %d, column %d", strings.Count(s[:i], "\n")+1, i-strings.LastIndex(s[:i], "\n"))
}

// TestReadJSONDuplicateKeys attacks ReadJSON with a key given twice in an
// object, which encoding/json would read with the last value winning: a
// reviewer reads the first, stackup would act on the second. Each is
// refused, at any depth and in any letter case, naming the key and where
// both are.
func TestReadJSONDuplicateKeys(t *testing.T) {
	tests := []struct {
		name      string
		edit      edit
		second    string // text at the second key, unique in the result
		key       string
		first     string // text at the first key, unique in the result
		firstName string // the first key as written, when not key
	}{
		{"schema", edit{`"schema": "stackup.topology/v1",`, `"schema": "stackup.topology/v1", "schema": "stackup.topology/v0",`},
			`"schema": "stackup.topology/v0"`, "schema", `"schema": "stackup.topology/v1"`, ""},
		{"template version", edit{`"id": "shop_app", "type": "webapp", "version": "1.4.0",`, `"id": "shop_app", "type": "webapp", "version": "1.4.0", "version": "9.9.9",`},
			`"version": "9.9.9"`, "version", `"version": "1.4.0", "version": "9.9.9"`, ""},
		{"constraint, deep", edit{`"constraint": ">=8", "relation": "hosted_on"}`, `"constraint": ">=8", "relation": "hosted_on", "constraint": "*"}`},
			`"constraint": "*"`, "constraint", `"constraint": ">=8"`, ""},
		{"relationship target, deepest", edit{`[{"relation": "hosted_on", "target": "vm-1"}]`, `[{"relation": "hosted_on", "target": "vm-1", "target": "vm-9"}]`},
			`"target": "vm-9"}]`, "target", `"target": "vm-1", "target"`, ""},
		{"other case", edit{`{"id": "vm-1", "template": "ubuntu_os"}`, `{"id": "vm-1", "template": "ubuntu_os", "Template": "java_runtime"}`},
			`"Template"`, "Template", `"template": "ubuntu_os", "Template"`, "template"},
		{"folded like encoding/json", edit{`"schema": "stackup.topology/v1",`, `"schema": "stackup.topology/v1", "ſchema": "stackup.topology/v0",`},
			`"ſchema"`, "ſchema", `"schema": "stackup.topology/v1"`, "schema"},
		{"escaped", edit{`{"id": "vm-1", "template": "ubuntu_os"}`, `{"id": "vm-1", "template": "ubuntu_os", "\u0069d": "vm-9"}`},
			`"\u0069d"`, "id", `"id": "vm-1", "template": "ubuntu_os", "\u0069d"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := editShop(t, tt.edit)
			require.Equal(t, 1, strings.Count(file, tt.second), "%q must be unique", tt.second)
			require.Equal(t, 1, strings.Count(file, tt.first), "%q must be unique", tt.first)
			m, err := topology.ReadJSON(strings.NewReader(file))
			assert.Nil(t, m)
			also := "also at " + placeOf(t, file, tt.first)
			if tt.firstName != "" {
				also = fmt.Sprintf("also as %q at %s", tt.firstName, placeOf(t, file, tt.first))
			}
			checkError(t, err, nil, fmt.Sprintf("%s: key %q", placeOf(t, file, tt.second), tt.key),
				"duplicate key", also, "give each key once")
		})
	}

	// The same key in sibling objects, or as a value, is no duplicate.
	m, err := topology.ReadJSON(strings.NewReader(editShop(t,
		edit{`{"id": "vm-1", "template": "ubuntu_os"}`, `{"id": "id", "template": "ubuntu_os"}`},
		edit{`"target": "vm-1"}`, `"target": "id"}`})))
	require.NoError(t, err)
	_, err = m.Node(t.Context(), "id")
	require.NoError(t, err)
}

// zeroVersionFiles returns a topology, in each format that can express it,
// in which node n of template t is recorded at the version nodeVersion
// and t at templateVersion.
func zeroVersionFiles(templateVersion, nodeVersion string) map[string]func() (*topology.Memory, error) {
	return map[string]func() (*topology.Memory, error){
		"json": func() (*topology.Memory, error) {
			return topology.ReadJSON(strings.NewReader(fmt.Sprintf(`{"schema": "stackup.topology/v1", "applications": [{"id": "a",
"templates": [{"id": "t", "type": "x", "version": %q}],
"nodes": [{"id": "n", "template": "t",
"version": %q}]}]}`, templateVersion, nodeVersion)))
		},
		"yaml": func() (*topology.Memory, error) {
			return readYAMLString(fmt.Sprintf("schema: stackup.topology/v1\napplications:\n  - id: a\n    templates: [{id: t, type: x, version: %s}]\n    nodes:\n      - id: n\n        template: t\n        version: %s\n", templateVersion, nodeVersion))
		},
		"tosca": func() (*topology.Memory, error) {
			return readTOSCA(fmt.Sprintf(toscaVersionLine+"topology_template:\n  node_templates:\n    t: {type: x, properties: {version: %s}}\n", templateVersion),
				fmt.Sprintf("schema: stackup.instances/v1\napplication: a\nnodes:\n  - id: n\n    template: t\n    version: %s\n", nodeVersion))
		},
	}
}

// TestReadNodeVersionZero: a node recorded at 0.0.0 must not silently take
// its template's version (a Node's zero Version means "unset"). It is
// refused, naming the node and its line, unless the template is at 0.0.0
// too, when the node keeps 0.0.0.
func TestReadNodeVersionZero(t *testing.T) {
	for _, zero := range []string{"0.0.0", "0", "v0.0.0", "0.0"} {
		for format, read := range zeroVersionFiles("1.4.0", zero) {
			t.Run(format+" "+zero, func(t *testing.T) {
				m, err := read()
				assert.Nil(t, m)
				item := map[string]string{ // JSON errors name no line for versions
					"json":  `node "n"`,
					"yaml":  `line 8: node "n"`,
					"tosca": `instance file line 6: node "n"`,
				}[format]
				checkError(t, err, nil, item, fmt.Sprintf("version %q is 0.0.0", zero), "unset", "template's version 1.4.0", "leave the version out")
			})
		}
	}
	for format, read := range zeroVersionFiles("0.0.0", "0.0.0") {
		t.Run(format+" template at 0.0.0 too", func(t *testing.T) {
			m, err := read()
			require.NoError(t, err)
			n, err := m.Node(t.Context(), "n")
			require.NoError(t, err)
			assert.True(t, n.Version.IsZero())
		})
	}
	for format, read := range zeroVersionFiles("1.4.0", "0.0.1") {
		t.Run(format+" near zero", func(t *testing.T) {
			m, err := read()
			require.NoError(t, err)
			n, err := m.Node(t.Context(), "n")
			require.NoError(t, err)
			assert.Equal(t, "0.0.1", n.Version.String())
		})
	}
}

// TestLoadHostileFiles loads the hostile files of this issue from disk:
// each error names the file, and the file is left as it was.
func TestLoadHostileFiles(t *testing.T) {
	service, _ := manyTemplates(2)
	tests := []struct {
		name, text, item string
		load             func(path string) (*topology.Memory, error)
	}{
		{"dup.json", editShop(t, edit{`"schema": "stackup.topology/v1",`, `"schema": "stackup.topology/v1", "schema": "stackup.topology/v1",`}),
			`line 2, column 36: key "schema"`, topology.Load},
		{"laughs.yaml", "schema: stackup.topology/v1\nx:\n" + laughs("  ", 9), "line 6: alias *l2", topology.Load},
		{"zero.yaml", "schema: stackup.topology/v1\napplications:\n  - id: a\n    templates: [{id: t, type: x, version: 1}]\n    nodes: [{id: n, template: t, version: 0.0.0}]\n",
			`line 5: node "n"`, topology.Load},
		{"instances.yaml", "schema: stackup.instances/v1\napplication: a\nnodes: [{id: n0, template: t0, version: 0.0.0}, {id: n1, template: t1}]\n",
			`instance file line 3: node "n0"`, func(path string) (*topology.Memory, error) {
				return topology.LoadTOSCA(writeTemp(t, "service.yaml", service), path)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, tt.name, tt.text)
			m, err := tt.load(path)
			assert.Nil(t, m)
			te := checkError(t, err, nil, tt.item)
			assert.Equal(t, path, te.File)
			assert.Contains(t, err.Error(), path)
			data, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			assert.Equal(t, tt.text, string(data), "the file changed")
		})
	}
}
