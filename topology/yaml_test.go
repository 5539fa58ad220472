package topology_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/hashicorp/go-multierror"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

const (
	shopYAMLFile = "testdata/shop.yaml"
	intranetFile = "testdata/intranet.yml"
)

// editFile returns the text of the file name with edits applied, each of
// which must match exactly once.
func editFile(t *testing.T, name string, edits ...edit) string {
	t.Helper()
	s := readTestdata(t, name)
	for _, e := range edits {
		require.Equal(t, 1, strings.Count(s, e.old), "edit %q must match once in %s", e.old, name)
		s = strings.Replace(s, e.old, e.new, 1)
	}
	return s
}

// checkError asserts that err is a refusal matching is (ErrInvalid when
// nil) and ErrInvalid, held in a *topology.Error whose Item is item (when
// item is not empty), and whose message holds every one of msgs. It returns
// the first *topology.Error in err.
func checkError(t *testing.T, err error, is error, item string, msgs ...string) *topology.Error {
	t.Helper()
	require.Error(t, err)
	if is == nil {
		is = topology.ErrInvalid
	}
	assert.ErrorIs(t, err, is)
	assert.ErrorIs(t, err, topology.ErrInvalid)
	var te *topology.Error
	require.ErrorAs(t, err, &te)
	if item != "" {
		assert.Equal(t, item, te.Item)
	}
	for _, msg := range msgs {
		assert.Contains(t, err.Error(), msg)
	}
	return te
}

func readYAMLFile(t *testing.T, name string) *topology.Memory {
	t.Helper()
	f, err := os.Open(name)
	require.NoError(t, err)
	defer f.Close()
	m, err := topology.ReadYAML(f)
	require.NoError(t, err, name)
	require.NotNil(t, m)
	return m
}

func TestReadYAMLShop(t *testing.T) {
	m := readYAMLFile(t, shopYAMLFile)
	assert.Equal(t, readShopFile(t).Applications(), m.Applications(), "shop.yaml and shop.json say the same")
	assert.Equal(t, mustShop(t).Applications(), m.Applications())

	// The unquoted 18.04 is the version 18.4.0, not the number 18.04 (which
	// YAML would print as 18.04 too, but would lose on 8.50 or 8.10).
	shop, err := m.Application(t.Context(), "shop")
	require.NoError(t, err)
	ubuntu, ok := shop.Template("ubuntu_os")
	require.True(t, ok)
	assert.Equal(t, "18.4.0", ubuntu.Version.Canonical().String())
	assert.Equal(t, "18.04", ubuntu.Version.String(), "as written")
	vm3, err := m.Node(t.Context(), "vm-3")
	require.NoError(t, err)
	assert.Equal(t, "18.4.0", vm3.Version.Canonical().String())
}

func TestReadYAMLIntranet(t *testing.T) {
	m := readYAMLFile(t, intranetFile)
	want, err := topology.New(topology.Application{
		ID: "intranet",
		Templates: []topology.Template{
			{ID: "intranet_app", Type: "webapp", Version: v("3.2.1"), Requirements: []topology.Requirement{
				{Name: "host", Template: "jboss_eap", Constraint: c(">=7.3, <8"), Relation: topology.HostedOn},
				{Name: "database", Template: "mysql_server", Constraint: c("~8.0.30"), Relation: topology.DependsOn},
			}},
			{ID: "jboss_eap", Type: "jboss-eap", Version: v("7.4.13"), Requirements: []topology.Requirement{
				{Name: "runtime", Template: "openjdk", Constraint: c(">=11"), Relation: topology.HostedOn}}},
			{ID: "openjdk", Type: "jdk", Version: v("11.0.21"), Requirements: []topology.Requirement{
				{Name: "os", Template: "rhel_os", Relation: topology.HostedOn}}},
			{ID: "mysql_server", Type: "mysql", Version: v("8.0.35"), Requirements: []topology.Requirement{
				{Name: "os", Template: "rhel_os", Relation: topology.HostedOn}}},
			{ID: "rhel_os", Type: "rhel", Version: v("8.9")},
		},
		Nodes: []topology.Node{
			{ID: "app-vm-1", Template: "rhel_os"},
			{ID: "db-vm-1", Template: "rhel_os", Version: v("8.9")},
			{ID: "jdk-1", Template: "openjdk", Relationships: rels(hostedOn("app-vm-1"))},
			{ID: "eap-1", Template: "jboss_eap", Version: v("7.4.10"), Relationships: rels(hostedOn("jdk-1"))},
			{ID: "mysql-1", Template: "mysql_server", Relationships: rels(hostedOn("db-vm-1"))},
			{ID: "intranet-1", Template: "intranet_app", Relationships: rels(hostedOn("eap-1"), dependsOn("mysql-1"))},
		},
	})
	require.NoError(t, err)
	assert.Equal(t, want.Applications(), m.Applications())
}

func TestReadYAMLVersionsKeepTheirText(t *testing.T) {
	tests := []struct {
		yaml, want string
	}{
		{"8.5", "8.5.0"},
		{"8.50", "8.50.0"}, // as a float it would be 8.5
		{"8.10", "8.10.0"}, // as a float it would be 8.1
		{"18.04", "18.4.0"},
		{"2", "2.0.0"},
		{"1.4.0", "1.4.0"},
		{"'8.50'", "8.50.0"},
		{"!!float 8.10", "8.10.0"},
		{"v2.0.0-rc.1+build.7", "2.0.0-rc.1+build.7"},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			doc := fmt.Sprintf(`schema: stackup.topology/v1
applications:
  - id: a
    templates:
      - {id: t, type: x, version: %[1]s}
    nodes:
      - {id: n, template: t, version: %[1]s}
`, tt.yaml)
			m, err := topology.ReadYAML(strings.NewReader(doc))
			require.NoError(t, err)
			a := m.Applications()
			require.Len(t, a, 1)
			require.Len(t, a[0].Templates, 1)
			require.Len(t, a[0].Nodes, 1)
			assert.Equal(t, tt.want, a[0].Templates[0].Version.Canonical().String())
			assert.Equal(t, tt.want, a[0].Nodes[0].Version.Canonical().String())
		})
	}
}

func TestReadYAMLErrors(t *testing.T) {
	const (
		tomcatVersion = "        version: 8.5.100\n"
		shop2         = "{id: shop-2, template: shop_app, version: 1.4.0,"
		vm1           = "{id: vm-1, template: ubuntu_os}"
	)
	shop := readTestdata(t, shopYAMLFile)
	at := func(s, sub string) string { return fmt.Sprintf("line %d", lineOf(t, s, sub)) }

	badTemplateVersion := editFile(t, shopYAMLFile, edit{tomcatVersion, "        version: 8.5.x-final\n"})
	noVersion := editFile(t, shopYAMLFile, edit{tomcatVersion, ""})
	badNodeVersion := editFile(t, shopYAMLFile, edit{shop2, "{id: shop-2, template: shop_app, version: latest,"})
	badConstraint := editFile(t, shopYAMLFile, edit{`">=8.5, <9"`, `">=8.5, <nine"`})
	several := severalBadVersions(t)
	unknownField := editFile(t, shopYAMLFile, edit{vm1, "{id: vm-1, template: ubuntu_os, colour: blue}"})
	unknownTop := editFile(t, shopYAMLFile, edit{"schema: stackup.topology/v1\n", "schema: stackup.topology/v1\ngenerated: 2024-05-01\n"})
	wrongSchema := editFile(t, shopYAMLFile, edit{"stackup.topology/v1", "stackup.topology/v2"})
	noSchema := editFile(t, shopYAMLFile, edit{"schema: stackup.topology/v1\n", ""})
	seqVersion := editFile(t, shopYAMLFile, edit{tomcatVersion, "        version: [8, 5, 100]\n"})
	mapVersion := editFile(t, shopYAMLFile, edit{"version: 8.0.392", "version: {major: 8}"})
	tab := editFile(t, shopYAMLFile, edit{"      - id: java_runtime\n        type: jdk", "      - id: java_runtime\n\ttype: jdk"})
	unclosed := editFile(t, shopYAMLFile, edit{"target: tomcat-1}\n", "target: \"tomcat-1}\n"})
	duplicateKey := editFile(t, shopYAMLFile, edit{"        type: ubuntu\n", "        type: ubuntu\n        type: debian\n"})
	indent := editFile(t, shopYAMLFile, edit{"        template: billing_app\n", "          template: billing_app\n"})
	unknownTarget := editFile(t, shopYAMLFile, edit{"{relation: hosted_on, target: tomcat-3}", "{relation: hosted_on, target: tomcat-9}"})

	tests := []struct {
		name  string
		input string
		is    error    // ErrInvalid unless set
		item  string   // the first *topology.Error's Item, when known
		msgs  []string // parts of the message
	}{
		{
			name:  "bad template version",
			input: badTemplateVersion,
			item:  at(badTemplateVersion, "8.5.x-final") + `: template "tomcat_server"`,
			msgs:  []string{at(badTemplateVersion, "8.5.x-final"), `template "tomcat_server"`, "invalid version", "8.5.x-final"},
		},
		{
			name:  "template without version",
			input: noVersion,
			item:  at(noVersion, "- id: tomcat_server") + `: template "tomcat_server"`, // the template's own line
			msgs:  []string{"no version: give the version the template deploys"},
		},
		{
			name:  "bad node version",
			input: badNodeVersion,
			item:  at(badNodeVersion, "latest") + `: node "shop-2"`,
			msgs:  []string{"invalid version", "latest"},
		},
		{
			name:  "bad constraint",
			input: badConstraint,
			item:  at(badConstraint, "<nine") + `: template "shop_app" requirement on "tomcat_server"`,
			msgs:  []string{"invalid constraint", "<nine"},
		},
		{
			name:  "several bad versions",
			input: several,
			item:  at(several, "eight") + `: template "tomcat_server"`,
			msgs: []string{
				at(several, "eight") + `: template "tomcat_server"`,
				at(several, "1.4.0.0") + `: node "shop-2"`,
				at(several, "8.5.50 or newer") + `: template "billing_app" requirement on "tomcat_server"`,
			},
		},
		{
			name:  "unknown field",
			input: unknownField,
			item:  "file",
			msgs:  []string{at(unknownField, "colour") + ": unknown field \"colour\""},
		},
		{
			name:  "unknown top-level field",
			input: unknownTop,
			item:  "file",
			msgs:  []string{at(unknownTop, "generated") + ": unknown field \"generated\""},
		},
		{
			name:  "wrong schema",
			input: wrongSchema,
			item:  at(wrongSchema, "stackup.topology/v2"),
			msgs:  []string{`schema "stackup.topology/v2", want "stackup.topology/v1"`},
		},
		{
			name:  "no schema",
			input: noSchema,
			item:  at(noSchema, "applications:"),
			msgs:  []string{`schema "", want "stackup.topology/v1"`},
		},
		{
			name:  "empty document",
			input: "",
			item:  "file",
			msgs:  []string{"empty"},
		},
		{
			name:  "only comments",
			input: "# nothing deployed yet\n\n",
			item:  "file",
			msgs:  []string{"empty"},
		},
		{
			name:  "two documents",
			input: shop + "---\n" + shop,
			item:  "file",
			msgs:  []string{"more than one YAML document"},
		},
		{
			// Output of a template engine, say, whose first document is
			// not a topology: that there are two is said first.
			name:  "two documents, the first not a topology",
			input: "apiVersion: v1\nkind: Service\n---\n" + shop,
			item:  "file",
			msgs:  []string{`more than one YAML document: the "---" on line 3 starts another`},
		},
		{
			name:  "a document start after the document",
			input: shop + "---\n",
			item:  "file",
			msgs:  []string{"more than one YAML document"},
		},
		{
			name:  "a sequence, not a mapping",
			input: "# comment\n- schema: stackup.topology/v1\n",
			item:  "line 2",
			msgs:  []string{"the document is not a mapping"},
		},
		{
			name:  "a scalar, not a mapping",
			input: "stackup.topology/v1\n",
			item:  "line 1",
			msgs:  []string{"the document is not a mapping"},
		},
		{
			name:  "null document",
			input: "---\n",
			item:  "line 1",
			msgs:  []string{"the document is not a mapping"},
		},
		{
			name:  "a sequence for a version",
			input: seqVersion,
			item:  "file",
			msgs:  []string{at(seqVersion, "[8, 5, 100]") + ": a list where a string belongs"},
		},
		{
			name:  "a mapping for a node version",
			input: mapVersion,
			item:  "file",
			msgs:  []string{at(mapVersion, "{major: 8}") + ": a mapping where a string belongs"},
		},
		{
			name:  "a tab for indentation",
			input: tab,
			item:  "file",
			// yaml.v3 names the line where the badly indented block began.
			msgs: []string{at(tab, "- id: java_runtime") + ": found a tab character"},
		},
		{
			name:  "unclosed quote",
			input: unclosed,
			item:  "file",
			msgs:  []string{at(unclosed, `"tomcat-1}`) + ": found unexpected end of stream"},
		},
		{
			name:  "bad indentation",
			input: indent,
			item:  "file",
			msgs:  []string{at(indent, "  template: billing_app") + ": mapping values are not allowed"},
		},
		{
			name:  "duplicate key",
			input: duplicateKey,
			item:  "file",
			msgs: []string{at(duplicateKey, "type: debian") + `: mapping key "type" already defined at ` + at(duplicateKey, "type: ubuntu") +
				": a mapping gives each key once: remove one of the two, or, if both are wanted, put them in separate entries"},
		},
		{
			name:  "fails Validate: unknown target",
			input: unknownTarget,
			item:  `node "shop-3"`,
			msgs:  []string{`hosted_on unknown node "tomcat-9"`},
		},
		{
			name: "fails Validate twice",
			input: editFile(t, shopYAMLFile,
				edit{"{relation: hosted_on, target: tomcat-3}", "{relation: hosted_on, target: tomcat-9}"},
				edit{"{id: vm-2, template: ubuntu_os}", "{id: vm-1, template: ubuntu_os}"}),
			msgs: []string{`node "shop-3": invalid topology: hosted_on unknown node "tomcat-9"`, `node "vm-1": invalid topology: duplicate node ID`},
		},
		{
			name:  "cycle",
			input: editFile(t, shopYAMLFile, edit{vm1, "{id: vm-1, template: ubuntu_os, relationships: [{relation: depends_on, target: shop-1}]}"}),
			is:    topology.ErrCycle,
			item:  `node "tomcat-1"`,
			msgs:  []string{"tomcat-1 → java-1 → vm-1 → shop-1 → tomcat-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := topology.ReadYAML(strings.NewReader(tt.input))
			assert.Nil(t, m)
			checkError(t, err, tt.is, tt.item, tt.msgs...)
		})
	}
}

// severalBadVersions is testdata/shop.yaml with a bad template version, a
// bad node version and a bad constraint.
func severalBadVersions(t *testing.T) string {
	t.Helper()
	return editFile(t, shopYAMLFile,
		edit{"        version: 8.5.100\n", "        version: eight\n"},
		edit{"{id: shop-2, template: shop_app, version: 1.4.0,", "{id: shop-2, template: shop_app, version: 1.4.0.0,"},
		edit{`">=8.5.50"`, `8.5.50 or newer`})
}

// topologyErrors returns every *topology.Error in err, however the errors
// are joined: errors.Join, *multierror.Error, or wrapped with %w.
func topologyErrors(err error) []*topology.Error {
	var out []*topology.Error
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *topology.Error:
			out = append(out, e)
		case *multierror.Error:
			for _, inner := range e.Errors {
				walk(inner)
			}
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		default:
			walk(errors.Unwrap(err))
		}
	}
	walk(err)
	return out
}

func TestReadYAMLReportsEveryBadVersion(t *testing.T) {
	input := severalBadVersions(t)
	at := func(sub string) string { return fmt.Sprintf("line %d", lineOf(t, input, sub)) }
	_, err := topology.ReadYAML(strings.NewReader(input))
	require.ErrorIs(t, err, topology.ErrInvalid)
	var items []string
	for _, p := range problems(t, err) { // the same shape as Validate's
		items = append(items, p.Item)
		assert.Empty(t, p.File, "ReadYAML knows no file name")
		assert.ErrorIs(t, p, topology.ErrInvalid, p.Item)
	}
	assert.Equal(t, []string{
		at("eight") + `: template "tomcat_server"`,
		at("1.4.0.0") + `: node "shop-2"`,
		at("8.5.50 or newer") + `: template "billing_app" requirement on "tomcat_server"`,
	}, items)
}

func TestReadYAMLValidateReportsEveryProblem(t *testing.T) {
	input := editFile(t, shopYAMLFile,
		edit{"{relation: hosted_on, target: tomcat-3}", "{relation: hosted_on, target: tomcat-9}"},
		edit{"{id: vm-2, template: ubuntu_os}", "{id: vm-1, template: ubuntu_os}"})
	_, err := topology.ReadYAML(strings.NewReader(input))
	require.ErrorIs(t, err, topology.ErrInvalid)
	var items []string
	for _, p := range problems(t, err) {
		items = append(items, p.Item)
	}
	// vm-2 is gone, so java-2 has lost its host too.
	assert.ElementsMatch(t, []string{`node "shop-3"`, `node "vm-1"`, `node "java-2"`}, items)
}

func TestReadYAMLSize(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 64 MiB")
	}
	// An endless stream: ReadYAML must stop after MaxFileSize+1 bytes.
	r := &countingReader{r: io.MultiReader(strings.NewReader("schema: stackup.topology/v1\n"), spaces{})}
	m, err := topology.ReadYAML(r)
	assert.Nil(t, m)
	assert.LessOrEqual(t, r.n, int64(topology.MaxFileSize+1), "ReadYAML reads no more than it needs")
	checkError(t, err, nil, "file", fmt.Sprintf("larger than %d bytes", topology.MaxFileSize))
}

func TestReadYAMLReaderError(t *testing.T) {
	boom := errors.New("disk on fire")
	shop := readTestdata(t, shopYAMLFile)
	m, err := topology.ReadYAML(io.MultiReader(strings.NewReader(shop[:100]), iotest.ErrReader(boom)))
	require.Error(t, err)
	assert.Nil(t, m)
	assert.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, topology.ErrInvalid, "a failing reader is not a bad file")
	assert.Contains(t, err.Error(), "reading file")
}
