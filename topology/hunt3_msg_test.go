package topology_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// TestHunt3EmptyFile: an empty topology file, or one of white space only,
// was refused as "EOF" (JSON) or "empty" (YAML), which says neither that
// the file is at fault nor what it must hold. Every reader says the file
// is empty and what belongs in it, names the file, and loads nothing.
func TestHunt3EmptyFile(t *testing.T) {
	check := func(t *testing.T, m *topology.Memory, err error, want ...string) {
		t.Helper()
		assert.Nil(t, m, "nothing is loaded")
		require.ErrorIs(t, err, topology.ErrEmpty)
		assert.ErrorIs(t, err, topology.ErrInvalid)
		var te *topology.Error
		require.ErrorAs(t, err, &te)
		msg := err.Error()
		assert.Contains(t, msg, "empty file: it holds nothing but ")
		for _, w := range want {
			assert.Contains(t, msg, w)
		}
		assert.NotContains(t, msg, "EOF")
	}
	for _, in := range []string{"", " ", "\n\n", " \t\r\n", "\ufeff", "\ufeff \n"} {
		m, err := topology.ReadJSON(strings.NewReader(in))
		check(t, m, err, `it must hold a topology: "schema": "stackup.topology/v1" and its "applications"`)
	}
	for _, in := range []string{"", "\n", "# nothing yet\n"} {
		m, err := topology.ReadYAML(strings.NewReader(in))
		check(t, m, err, "white space and comments", `"schema": "stackup.topology/v1"`)
	}

	dir := t.TempDir()
	for _, name := range []string{"shop.json", "shop.yaml"} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte("\n"), 0o600))
		m, err := topology.Load(path)
		check(t, m, err, path)
	}
	service := filepath.Join(dir, "service.yaml")
	instances := filepath.Join(dir, "instances.yaml")
	require.NoError(t, os.WriteFile(service, nil, 0o600))
	require.NoError(t, os.WriteFile(instances, nil, 0o600))
	m, err := topology.LoadTOSCA(service, instances)
	check(t, m, err, service, `"tosca_definitions_version"`, `"node_templates"`)

	// The instance file, once the service template is read.
	tosca, err := os.ReadFile(filepath.Join("testdata", "tosca", "shop.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(service, tosca, 0o600))
	m, err = topology.LoadTOSCA(service, instances)
	check(t, m, err, instances, `"schema": "stackup.instances/v1", "application" and "nodes"`)
}

// TestHunt3CheckNotEmpty: what is more than white space is not empty.
func TestHunt3CheckNotEmpty(t *testing.T) {
	for _, in := range []string{"{}", " x", "\ufeffnull", "\f"} {
		assert.NoError(t, topology.CheckNotEmpty([]byte(in), "anything"), "%q", in)
	}
	err := topology.CheckNotEmpty([]byte(" \n"), "a list of things")
	assert.True(t, errors.Is(err, topology.ErrEmpty))
	assert.EqualError(t, err, "empty file: it holds nothing but white space; it must hold a list of things")
}

// oneApp is a topology file of one application whose templates are
// given, in JSON.
func oneApp(templates string) string {
	return `{"schema": "stackup.topology/v1", "applications": [{"id": "shop", "templates": [` + templates + `], "nodes": []}]}`
}

// requireItemError checks that a reader loaded nothing and refused its
// input with an *Error for item (ErrInvalid) that says want, and not
// unwanted, the message of old.
func requireItemError(t *testing.T, m *topology.Memory, err error, item, want, unwanted string) {
	t.Helper()
	assert.Nil(t, m, "nothing is loaded")
	require.ErrorIs(t, err, topology.ErrInvalid)
	var te *topology.Error
	require.ErrorAs(t, err, &te)
	assert.Equal(t, item, te.Item)
	assert.Contains(t, err.Error(), item+": invalid topology: "+want)
	assert.NotContains(t, err.Error(), unwanted)
}

// TestHunt3RequirementWithoutTemplate: a requirement that named no
// template was refused as `requirement "" names unknown template ""`,
// which names neither the requirement nor what to write. It now names the
// template and the requirement, by number and name, and says to give the
// template it requires, in a file or in New.
func TestHunt3RequirementWithoutTemplate(t *testing.T) {
	check := func(t *testing.T, m *topology.Memory, err error, item string) {
		t.Helper()
		requireItemError(t, m, err, item, "names no template: give the template of the platform it requires", `unknown template ""`)
	}
	tomcat := `{"id": "tomcat_server", "type": "tomcat", "version": "9.0"}`
	m, err := topology.ReadJSON(strings.NewReader(oneApp(tomcat + `, {"id": "shop_app", "type": "webapp", "version": "1.0",
		"requirements": [{"template": "tomcat_server"}, {"constraint": ">=9"}]}`)))
	check(t, m, err, `template "shop_app" requirement #2`)

	m, err = topology.ReadJSON(strings.NewReader(oneApp(`{"id": "shop_app", "type": "webapp", "version": "1.0",
		"requirements": [{"name": "host", "template": null, "constraint": ">=9"}]}`)))
	check(t, m, err, `template "shop_app" requirement #1 ("host")`)

	m, err = topology.ReadYAML(strings.NewReader(`schema: stackup.topology/v1
applications:
- id: shop
  templates:
  - id: shop_app
    type: webapp
    version: "1.0"
    requirements:
    - name: host
      constraint: ">=9"
  nodes: []
`))
	check(t, m, err, `template "shop_app" requirement #1 ("host")`)

	m, err = topology.New(topology.Application{ID: "shop", Templates: []topology.Template{{
		ID: "shop_app", Type: "webapp", Requirements: []topology.Requirement{{Name: "bad\x1b[2J"}}}}})
	check(t, m, err, `template "shop_app" requirement #1`) // a hostile name is not shown
}

// TestHunt3TemplateWithoutVersion: a template of a file with no version
// (left out, null, or "") was refused as `version: invalid version "":
// invalid semantic version`. It now names the template, and the line in
// YAML, and says to give its version.
func TestHunt3TemplateWithoutVersion(t *testing.T) {
	check := func(t *testing.T, m *topology.Memory, err error, item string) {
		t.Helper()
		requireItemError(t, m, err, item, `no version: give the version the template deploys, such as "1.4.0"`, "invalid semantic version")
	}
	for _, version := range []string{``, `, "version": null`, `, "version": ""`} {
		m, err := topology.ReadJSON(strings.NewReader(oneApp(`{"id": "shop_app", "type": "webapp"` + version + `}`)))
		check(t, m, err, `template "shop_app"`)
	}
	for _, version := range []string{"", "    version: ~\n", "    version:\n", "    version: \"\"\n"} {
		m, err := topology.ReadYAML(strings.NewReader("schema: stackup.topology/v1\napplications:\n- id: shop\n  templates:\n" +
			"  - id: shop_app\n    type: webapp\n" + version + "  nodes: []\n"))
		line := "line 7" // the version's
		if version == "" {
			line = "line 5" // the template's
		}
		check(t, m, err, line+`: template "shop_app"`)
	}
}

// TestHunt3LongValuesAreCutShort: a file that held a value of megabytes
// where a short one belongs (the schema, an unknown field, a number, a
// TOSCA version, a template ID beside a bad version) made a message of
// megabytes. Each is now quoted cut short, with its length, and escaped.
func TestHunt3LongValuesAreCutShort(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	inst := strings.NewReader("schema: stackup.instances/v1\napplication: a\nnodes: []\n")
	for name, read := range map[string]func() (*topology.Memory, error){
		"schema": func() (*topology.Memory, error) {
			return topology.ReadJSON(strings.NewReader(`{"schema": "` + big + `"}`))
		},
		"unknown field": func() (*topology.Memory, error) {
			return topology.ReadJSON(strings.NewReader(`{"schema": "stackup.topology/v1", "` + big + `": 1}`))
		},
		"number": func() (*topology.Memory, error) {
			return topology.ReadJSON(strings.NewReader(oneApp(`{"id": "t", "type": "x", "version": ` + strings.Repeat("1", 1<<20) + `}`)))
		},
		"template ID": func() (*topology.Memory, error) {
			return topology.ReadJSON(strings.NewReader(oneApp(`{"id": "` + big + `", "type": "x", "version": "latest"}`)))
		},
		"YAML schema": func() (*topology.Memory, error) { return topology.ReadYAML(strings.NewReader("schema: " + big + "\n")) },
		"TOSCA version": func() (*topology.Memory, error) {
			return topology.ReadTOSCA(strings.NewReader("tosca_definitions_version: "+big+"\n"), inst)
		},
	} {
		m, err := read()
		assert.Nil(t, m, name)
		require.ErrorIs(t, err, topology.ErrInvalid, name)
		assert.Less(t, len(err.Error()), 1000, name)
		if name != "number" { // encoding/json does not quote it
			assert.Contains(t, err.Error(), `…" (1048576 bytes)`, name)
		}
	}

	m, err := topology.ReadJSON(strings.NewReader(`{"schema": "\u001b[2J\u202e` + big + `"}`))
	assert.Nil(t, m)
	require.ErrorIs(t, err, topology.ErrInvalid)
	assert.Contains(t, err.Error(), `schema "\x1b[2J\u202exxx`)
	assert.NotContains(t, err.Error(), "\x1b")
}

// TestHunt3Quote: short values whole, long ones cut at a rune boundary.
func TestHunt3Quote(t *testing.T) {
	assert.Equal(t, `"a\x00b"`, topology.Quote("a\x00b"))
	assert.Equal(t, `"\xff"`, topology.Quote("\xff"))
	long := strings.Repeat("é", 40) // 80 bytes
	assert.Equal(t, `"`+strings.Repeat("é", 32)+`…" (80 bytes)`, topology.Quote(long))
}

// TestHunt3YAMLUnquotedConstraint: an unquoted constraint that YAML reads
// as syntax (>=1.0 starts a folded block, * an alias) was refused as
// "did not find expected comment or line break", which does not say that
// quoting is the fix. It now says so, naming the line and the value. And
// a version or constraint that YAML would read as a number keeps its
// text: 1.10 stays 1.10, never 1.1.
func TestHunt3YAMLUnquotedConstraint(t *testing.T) {
	file := func(constraint, version string) string {
		return "schema: stackup.topology/v1\napplications:\n- id: shop\n  templates:\n  - id: shop_app\n    type: webapp\n    version: \"2.0\"\n" +
			"    requirements:\n    - template: tomcat_server\n      constraint: " + constraint + "\n" +
			"  - id: tomcat_server\n    type: tomcat\n    version: " + version + "\n  nodes: []\n"
	}
	for constraint, want := range map[string]string{
		">=1.0":      `begins with ">" as syntax, not text: quote it, as ">=1.0"`,
		">=9.0, <11": `quote it, as ">=9.0, <11"`,
		"*":          `begins with "*" as syntax, not text: quote it, as "*"`,
		"@latest":    `quote it, as "@latest"`,
	} {
		m, err := topology.ReadYAML(strings.NewReader(file(constraint, "9.0")))
		assert.Nil(t, m, constraint)
		require.ErrorIs(t, err, topology.ErrInvalid, constraint)
		var te *topology.Error
		require.ErrorAs(t, err, &te, constraint)
		assert.Contains(t, err.Error(), "line 10: ", constraint)
		assert.Contains(t, err.Error(), want, constraint)
	}

	m, err := topology.ReadYAML(strings.NewReader(file("1.10", "1.10")))
	require.NoError(t, err)
	app, err := m.Application(t.Context(), "shop")
	require.NoError(t, err)
	require.Len(t, app.Templates, 2)
	assert.Equal(t, "1.10", app.Templates[0].Requirements[0].Constraint.String())
	assert.Equal(t, "1.10", app.Templates[1].Version.String())
	assert.Equal(t, uint64(10), app.Templates[1].Version.Minor())
}
