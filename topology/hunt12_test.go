package topology_test

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// TestHunt12YAMLUnquotedConstraintInFlow: an unquoted constraint that YAML
// reads as syntax is refused saying to quote it, however the requirement
// is written. In a flow mapping on one line, as testdata/shop.yaml writes
// requirements ({template: u, constraint: >=1.0}), the error said only
// "found character that cannot start any token"; in a flow mapping over
// several lines, it said to quote ">=1.0}", with the brace that closes
// the mapping, which would not parse either.
func TestHunt12YAMLUnquotedConstraintInFlow(t *testing.T) {
	file := func(templates string) string {
		return "schema: stackup.topology/v1\napplications:\n- id: a\n  templates:\n" + templates + "  nodes: []\n"
	}
	for _, tt := range []struct{ templates, want string }{
		{"  - {id: t, type: x, version: 1.2, requirements: [{template: u, constraint: >=1.0}]}\n",
			`line 5: found character that cannot start any token: YAML reads a value that begins with ">" as syntax, not text: quote it, as ">=1.0"`},
		{"  - id: t\n    type: x\n    version: 1.2\n    requirements: [{template: u, constraint: >=1.0, relation: hosted_on}]\n",
			`quote it, as ">=1.0"`},
		{"  - id: t\n    type: x\n    version: 1.2\n    requirements: [{template: u, constraint: '@latest'}, {template: v, constraint: @latest}]\n",
			`YAML reads a value that begins with "@" as syntax, not text: quote it, as "@latest"`},
		{"  - id: t\n    type: x\n    version: 1.2\n    requirements:\n    - {template: u,\n       constraint: >=1.0}\n",
			`line 10: found character that cannot start any token: YAML reads a value that begins with ">" as syntax, not text: quote it, as ">=1.0"`},
		{"  - id: t\n    type: x\n    version: 1.2\n    requirements: [{template: u, constraint: *}]\n",
			`YAML reads a value that begins with "*" as syntax, not text: quote it, as "*"`},
		// In block style the whole rest of the line is the value, as before.
		{"  - id: t\n    type: x\n    version: 1.2\n    requirements:\n    - template: u\n      constraint: >=9.0, <11 # the supported range\n",
			`quote it, as ">=9.0, <11"`},
	} {
		m, err := topology.ReadYAML(strings.NewReader(file(tt.templates)))
		assert.Nil(t, m)
		require.ErrorIs(t, err, topology.ErrInvalid, tt.templates)
		msg := err.Error()
		assert.Contains(t, msg, tt.want, tt.templates)
		assert.NotContains(t, msg, `}"`, tt.templates)
	}
}

// TestHunt12JSONFileIsCompressed: a topology file or package index that
// holds compressed data (saved as downloaded, index.json.gz renamed, an
// object stored gzip-compressed without its Content-Encoding) was refused
// with "invalid character '\x1f' looking for beginning of value"; the
// error now says what the data is and what to do.
func TestHunt12JSONFileIsCompressed(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := zw.Write([]byte(`{"schema": "stackup.topology/v1", "applications": []}`))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	for name, tt := range map[string]struct {
		data []byte
		want string
	}{
		"gzip":  {gz.Bytes(), "it is gzip-compressed, not JSON: store the file uncompressed"},
		"zstd":  {[]byte("\x28\xb5\x2f\xfd\x04\x00"), "it is zstd-compressed, not JSON"},
		"xz":    {[]byte("\xfd7zXZ\x00\x00"), "it is xz-compressed, not JSON"},
		"bzip2": {[]byte("BZh91AY&SY"), "it is bzip2-compressed, not JSON"},
	} {
		m, err := topology.ReadJSON(bytes.NewReader(tt.data))
		assert.Nil(t, m, name)
		require.ErrorIs(t, err, topology.ErrInvalid, name)
		assert.Contains(t, err.Error(), tt.want, name)
	}
	_, err = topology.ReadJSON(strings.NewReader(`{"schema": x}`)) // not compressed: the JSON error as before
	require.ErrorIs(t, err, topology.ErrInvalid)
	assert.NotContains(t, err.Error(), "compressed")
}

// TestHunt12YAMLTwoMergeKeys: a mapping that merges two others with two
// "<<" keys, as one may write for {<<: *base, <<: *extra}, was told to
// remove one of the two keys or to put them in separate entries, which
// loses one of the merges; YAML merges several mappings with one key
// and a list, which the error now says.
func TestHunt12YAMLTwoMergeKeys(t *testing.T) {
	file := "schema: stackup.topology/v1\napplications:\n- id: a\n  templates:\n  - &b {id: t, type: x, version: 1.2}\n" +
		"  - {<<: *b, <<: {type: y}, id: u}\n  nodes: []\n"
	m, err := topology.ReadYAML(strings.NewReader(file))
	assert.Nil(t, m)
	require.ErrorIs(t, err, topology.ErrInvalid)
	assert.Contains(t, err.Error(), `line 6: mapping key "<<" already defined at line 6: merge several mappings with one "<<" and a list, such as "<<: [*a, *b]"`)
	assert.NotContains(t, err.Error(), "separate entries")
}

// TestHunt12TOSCAOtherVersionSaysWhatToDo: a service template of TOSCA
// 2.0, of the NFV profile or of a dialect (Cloudify's DSL) was refused
// saying only that its version is not one of the Simple Profile, not
// which the reader takes or what to do.
func TestHunt12TOSCAOtherVersionSaysWhatToDo(t *testing.T) {
	inst := "schema: stackup.instances/v1\napplication: shop\nnodes: []\n"
	for _, v := range []string{"tosca_2_0", "tosca_simple_profile_for_nfv_1_0_0", "cloudify_dsl_1_3", "1.3"} {
		svc := "tosca_definitions_version: " + v + "\ntopology_template:\n  node_templates:\n    a: {type: x, properties: {version: 1.0}}\n"
		m, err := topology.ReadTOSCA(strings.NewReader(svc), strings.NewReader(inst))
		assert.Nil(t, m)
		require.ErrorIs(t, err, topology.ErrInvalid, v)
		assert.Contains(t, err.Error(), `line 1: tosca_definitions_version: invalid topology: "`+v+`" is not a TOSCA Simple Profile version from 1.0 to 1.3: `+
			`write the service template in one ("tosca_simple_yaml_1_0" to "tosca_simple_yaml_1_3"), the TOSCA that stackup reads`, v)
	}
}

// TestHunt12UnknownTemplateSaysWhatToDo: a requirement or a node naming a
// template the topology does not hold was refused without saying what to
// do, and a requirement without a name was named `requirement ""`.
func TestHunt12UnknownTemplateSaysWhatToDo(t *testing.T) {
	file := "schema: stackup.topology/v1\napplications:\n- id: a\n  templates:\n" +
		"  - {id: t, type: x, version: 1.2, requirements: [{template: u}, {name: db, template: w}]}\n" +
		"  nodes: [{id: n, template: v}]\n"
	m, err := topology.ReadYAML(strings.NewReader(file))
	assert.Nil(t, m)
	require.ErrorIs(t, err, topology.ErrInvalid)
	msg := err.Error()
	assert.Contains(t, msg, `template "t": invalid topology: requirement #1 names unknown template "u": add the template to an application of the topology, or name one it holds`)
	assert.Contains(t, msg, `template "t": invalid topology: requirement "db" names unknown template "w": add the template`)
	assert.Contains(t, msg, `node "n": invalid topology: unknown template "v": add the template to an application of the topology, or name one it holds`)
	assert.NotContains(t, msg, `requirement ""`)
}

// TestHunt12JSONAsEditorsWriteIt: a topology file or index written as
// editors and other languages let one write JSON (comments, a comma
// before "}" or "]", single quotes, keys without quotes, a comma left
// out) was refused with encoding/json's words alone ("invalid character
// '/' looking for beginning of object key string"); the error now says
// what JSON does not allow there and what to write.
func TestHunt12JSONAsEditorsWriteIt(t *testing.T) {
	for in, want := range map[string]string{
		"{\n  // the shop\n  \"schema\": \"stackup.topology/v1\",\n  \"applications\": []\n}\n": `line 2, column 3: invalid topology: invalid character '/' looking for beginning of object key string: ` +
			`JSON holds no comments: remove them`,
		"{\"schema\": \"stackup.topology/v1\", /* x */\n  \"applications\": []}\n":    `JSON holds no comments`,
		"{\n  \"schema\": \"stackup.topology/v1\",\n  \"applications\": [],\n}\n":     `line 4, column 1: invalid topology: invalid character '}' looking for beginning of object key string: JSON allows no "," before "}" or "]": remove the last ","`,
		"{\"schema\": \"stackup.topology/v1\", \"applications\": [{\"id\": \"a\"},]}": `JSON allows no "," before "}" or "]"`,
		"{\n  'schema': 'stackup.topology/v1'\n}\n":                                   `JSON quotes keys and strings with '"', not '\''`,
		"{\n  schema: \"stackup.topology/v1\"\n}\n":                                   `JSON quotes keys with '"': write "schema"`,
		"{\"schema\": \"stackup.topology/v1\"\n \"applications\": []}\n":              `line 2, column 2: invalid topology: invalid character '"' after object key:value pair: a "," is missing before it`,
		"{\"schema\": \"stackup.topology/v1\", \"applications\": [{} {}]}\n":          `invalid character '{' after array element: a "," is missing before it`,
	} {
		m, err := topology.ReadJSON(strings.NewReader(in))
		assert.Nil(t, m)
		require.ErrorIs(t, err, topology.ErrInvalid, in)
		assert.Contains(t, err.Error(), want, in)
	}
}
