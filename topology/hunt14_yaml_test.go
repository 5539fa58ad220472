package topology_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// Test: a TOSCA service template or an instance file given to ReadYAML,
// or a service template or a topology file given to ReadTOSCA as the
// instance file, is refused saying what the file is and how to read it,
// not as a list of its fields that the reader does not know.
func TestHunt14YAMLFileOfAnotherKind(t *testing.T) {
	inst := "schema: stackup.instances/v1\napplication: shop\nnodes:\n  - {id: tomcat-1, template: tomcat_server}\n"
	topo := "applications: []\nschema: stackup.topology/v1\n"
	t.Run("ReadYAML", func(t *testing.T) {
		for file, want := range map[string]string{
			hunt14Service: `line 1: invalid topology: the file is a TOSCA service template, not a stackup topology file: read it and its instance file with ReadTOSCA or LoadTOSCA`,
			inst:          `line 1: invalid topology: the file is an instance file ("stackup.instances/v1"), not a stackup topology file: read it and its TOSCA service template with ReadTOSCA or LoadTOSCA`,
		} {
			m, err := topology.ReadYAML(strings.NewReader(file))
			require.Error(t, err)
			assert.Nil(t, m)
			assert.ErrorIs(t, err, topology.ErrInvalid)
			assert.NotContains(t, err.Error(), "unknown field")
			assert.Contains(t, err.Error(), want)
		}
	})
	t.Run("ReadTOSCA instances", func(t *testing.T) {
		for file, want := range map[string]string{
			hunt14Service: `instance file line 1: invalid topology: the file is a TOSCA service template, not an instance file: give the service template first and the instance file second`,
			topo:          `instance file line 2: invalid topology: the file is a stackup topology file ("stackup.topology/v1"), not an instance file: read it with ReadYAML or Load`,
		} {
			m, err := topology.ReadTOSCA(strings.NewReader(hunt14Service), strings.NewReader(file))
			require.Error(t, err)
			assert.Nil(t, m)
			assert.ErrorIs(t, err, topology.ErrInvalid)
			assert.NotContains(t, err.Error(), "unknown field")
			assert.Contains(t, err.Error(), want)
		}
	})
}

// Test: a YAML key that is a field of the file written in other letter
// case, as ReadJSON reads it ("ID" for "id", as a JSON file converted to
// YAML may hold), is refused naming the field to write, where the error
// said only that the key was unknown.
func TestHunt14YAMLKeyInOtherCase(t *testing.T) {
	const file = `schema: stackup.topology/v1
applications:
  - ID: shop
    templates:
      - {id: tomcat_server, type: tomcat, Version: 9.0.1}
    nodes: []
`
	m, err := topology.ReadYAML(strings.NewReader(file))
	require.Error(t, err)
	assert.Nil(t, m)
	assert.ErrorIs(t, err, topology.ErrInvalid)
	assert.Contains(t, err.Error(), `line 3: unknown field "ID": write "id": YAML keys are matched as written, in lower case`)
	assert.Contains(t, err.Error(), `line 5: unknown field "Version": write "version"`)

	// A key that is no field in any case is only unknown.
	_, err = topology.ReadYAML(strings.NewReader(strings.Replace(file, "ID: shop", "id: shop\n    colour: blue", 1)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown field "colour"`)
	assert.NotContains(t, err.Error(), `colour": write`)
}

// Test: a topology written in YAML in a file named .json, which Load
// reads as JSON, is refused saying that it is YAML and how to have it
// read as such, where the error said only "invalid character 's' looking
// for beginning of value".
func TestHunt14YAMLInAJSONFile(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"plain.json":     "schema: stackup.topology/v1\napplications: []\n",
		"comment.json":   "# the shop\nschema: stackup.topology/v1\napplications: []\n",
		"document.json":  "---\nschema: stackup.topology/v1\napplications: []\n",
		"directive.json": "%YAML 1.2\n---\nschema: stackup.topology/v1\napplications: []\n",
	} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		m, err := topology.Load(path)
		require.Error(t, err, name)
		assert.Nil(t, m)
		assert.ErrorIs(t, err, topology.ErrInvalid)
		assert.Contains(t, err.Error(), `it is YAML, not JSON: read it with ReadYAML, or name the file .yaml or .yml for Load`, name)
	}
	// JSON that is wrong stays a JSON error.
	path := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"schema": stackup.topology/v1}`), 0o600))
	_, err := topology.Load(path)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "it is YAML")
}
