package topology_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	shopFile   = "testdata/shop.json"
	goldenFile = "testdata/shop.golden.json"
)

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	require.NoError(t, err)
	return string(data)
}

func readShopFile(t testing.TB) *topology.Memory {
	t.Helper()
	f, err := os.Open(shopFile)
	require.NoError(t, err)
	defer f.Close()
	m, err := topology.ReadJSON(f)
	require.NoError(t, err)
	require.NotNil(t, m)
	return m
}

func writeJSON(t testing.TB, m *topology.Memory) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, m.WriteJSON(&buf))
	return buf.String()
}

func TestReadJSONShop(t *testing.T) {
	m := readShopFile(t)
	ctx := context.Background()

	// The file says what shopApps says in Go.
	assert.Equal(t, mustShop(t).Applications(), m.Applications())

	apps := m.Applications()
	require.Len(t, apps, 2)
	assert.Equal(t, topology.AppID("billing"), apps[0].ID)
	assert.Equal(t, topology.AppID("shop"), apps[1].ID)

	shop, err := m.Application(ctx, "shop")
	require.NoError(t, err)
	assert.Len(t, shop.Templates, 4)
	assert.Len(t, shop.Nodes, 12)
	shopApp, ok := shop.Template("shop_app")
	require.True(t, ok)
	assert.Equal(t, "webapp", shopApp.Type)
	assert.Equal(t, "1.4.0", shopApp.Version.String())
	require.Len(t, shopApp.Requirements, 1)
	req := shopApp.Requirements[0]
	assert.Equal(t, "host", req.Name)
	assert.Equal(t, topology.TemplateID("tomcat_server"), req.Template)
	assert.Equal(t, topology.HostedOn, req.Relation)
	assert.Equal(t, ">=8.5, <9", req.Constraint.String())
	assert.True(t, req.Constraint.Allows(v("8.5.100")))
	assert.False(t, req.Constraint.Allows(v("9.0.0")))
	java, ok := shop.Template("java_runtime")
	require.True(t, ok)
	require.Len(t, java.Requirements, 1)
	assert.True(t, java.Requirements[0].Constraint.IsZero(), "a requirement without constraint has the zero Constraint")

	nodes := []struct {
		id      topology.NodeID
		app     topology.AppID
		version string
		host    topology.NodeID
	}{
		{"vm-1", "shop", "18.4.0", ""},
		{"vm-3", "shop", "18.4.0", ""},
		{"java-1", "shop", "8.0.402", "vm-1"},
		{"java-3", "shop", "8.0.392", "vm-3"},
		{"tomcat-2", "shop", "8.5.100", "java-2"},
		{"tomcat-3", "shop", "8.5.96", "java-3"},
		{"shop-2", "shop", "1.4.0", "tomcat-2"},
		{"billing-1", "billing", "2.1.0", "tomcat-1"},
	}
	for _, tt := range nodes {
		n, err := m.Node(ctx, tt.id)
		require.NoError(t, err, tt.id)
		assert.Equal(t, tt.app, n.App, tt.id)
		assert.Equal(t, tt.version, n.Version.Canonical().String(), tt.id)
		if tt.host == "" {
			assert.Empty(t, n.Relationships, tt.id)
		} else {
			assert.Equal(t, rels(hostedOn(tt.host)), n.Relationships, tt.id)
		}
	}

	ds, err := m.Dependents(ctx, "tomcat-1")
	require.NoError(t, err)
	assert.Equal(t, []dep{
		{"billing", "billing-1", "billing_app", topology.HostedOn, ">=8.5.50"},
		{"shop", "shop-1", "shop_app", topology.HostedOn, ">=8.5, <9"},
	}, deps(ds))
}

func TestJSONRoundTrip(t *testing.T) {
	m := readShopFile(t)
	out := writeJSON(t, m)

	if *update {
		require.NoError(t, os.WriteFile(goldenFile, []byte(out), 0o644))
		t.Logf("rewrote %s", goldenFile)
	}
	assert.Equal(t, readTestdata(t, goldenFile), out, "WriteJSON output differs from %s; rerun with -update if the change is meant", goldenFile)

	again, err := topology.ReadJSON(strings.NewReader(out))
	require.NoError(t, err)
	assert.Equal(t, m.Applications(), again.Applications())
	assert.Equal(t, out, writeJSON(t, again), "writing what was read back changes nothing")

	golden, err := topology.ReadJSON(strings.NewReader(readTestdata(t, goldenFile)))
	require.NoError(t, err)
	assert.Equal(t, m.Applications(), golden.Applications())
}

func TestWriteJSONReadJSON(t *testing.T) {
	tests := []struct {
		name string
		apps []topology.Application
	}{
		{"shop", shopApps(3)},
		{"no applications", nil},
		{"empty application", []topology.Application{{ID: "empty"}}},
		{"empty slices", []topology.Application{{
			ID:        "a",
			Templates: []topology.Template{{ID: "t", Type: "x", Requirements: []topology.Requirement{}}},
			Nodes:     []topology.Node{{ID: "n", Template: "t", Relationships: []topology.Relationship{}}},
		}}},
		{"prerelease, metadata and every identifier character", []topology.Application{app("Spaeti_0.9:a/b@c+d-e",
			tmpls(
				topology.Template{ID: "os", Type: "linux", Version: v("v6.1.0-rc.2+build.7")},
				topology.Template{ID: "svc", Type: "org.example:service/v2@x+y", Version: v("0.0.0"), Requirements: []topology.Requirement{
					{Template: "os", Constraint: c("  >=6.0.0-0 || ~5.15  ")},
					{Name: "again", Template: "os", Constraint: c("*")},
				}},
			),
			node("host:1", "os"),
			node("svc-1", "svc", hostedOn("host:1"), dependsOn("host:1")),
		)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := topology.New(tt.apps...)
			require.NoError(t, err)
			out := writeJSON(t, m)
			back, err := topology.ReadJSON(strings.NewReader(out))
			require.NoError(t, err, out)
			assert.Equal(t, normalize(m.Applications()), normalize(back.Applications()))
			assert.Equal(t, out, writeJSON(t, back))
		})
	}
}

// edit is a change to the text of testdata/shop.json.
type edit struct{ old, new string }

func editShop(t *testing.T, edits ...edit) string {
	t.Helper()
	s := readTestdata(t, shopFile)
	for _, e := range edits {
		require.Equal(t, 1, strings.Count(s, e.old), "edit %q must match once", e.old)
		s = strings.Replace(s, e.old, e.new, 1)
	}
	return s
}

// lineOf returns the 1-based line of the first occurrence of sub in s.
func lineOf(t *testing.T, s, sub string) int {
	t.Helper()
	i := strings.Index(s, sub)
	require.GreaterOrEqual(t, i, 0, "%q not found", sub)
	return strings.Count(s[:i], "\n") + 1
}

func TestReadJSONErrors(t *testing.T) {
	const (
		tomcat = `"id": "tomcat_server", "type": "tomcat", "version": "8.5.100"`
		shop2  = `{"id": "shop-2", "template": "shop_app", "version": "1.4.0"`
	)
	shop := readTestdata(t, shopFile)
	missingComma := editShop(t, edit{`{"id": "vm-2", "template"`, `{"id": "vm-2" "template"`})
	numberVersion := editShop(t, edit{tomcat, `"id": "tomcat_server", "type": "tomcat", "version": 8.5`})

	tests := []struct {
		name   string
		input  string
		is     error    // topology.ErrInvalid unless set
		item   string   // the *topology.Error's Item, when it is known exactly
		itemRe string   // or a pattern it matches
		msgs   []string // parts of the message
	}{
		{
			name:   "syntax error",
			input:  missingComma,
			itemRe: fmt.Sprintf(`^line %d, column \d+$`, lineOf(t, missingComma, `"vm-2"`)),
			msgs:   []string{fmt.Sprintf("line %d, column ", lineOf(t, missingComma, `"vm-2"`)), "invalid character"},
		},
		{
			name:   "syntax error on line 1",
			input:  `{"schema": stackup}`,
			itemRe: `^line 1, column \d+$`,
			msgs:   []string{"line 1, column ", "invalid character 's'"},
		},
		{
			name:   "wrong type",
			input:  numberVersion,
			itemRe: fmt.Sprintf(`^line %d, column \d+$`, lineOf(t, numberVersion, `"version": 8.5`)),
			msgs:   []string{fmt.Sprintf("line %d, column ", lineOf(t, numberVersion, `"version": 8.5`)), "a number where a string belongs"},
		},
		{
			name:  "not an object",
			input: `["stackup.topology/v1"]`,
			msgs:  []string{"line 1, column ", "a list where an object belongs"},
		},
		{
			name:  "truncated",
			input: shop[:len(shop)/2],
			item:  "line 33, column 42", // where the data ends
			msgs:  []string{"unexpected EOF", "was the file cut short"},
		},
		{
			name:  "empty",
			input: "",
			item:  "file",
			msgs:  []string{"empty file", `"schema": "stackup.topology/v1"`},
		},
		{
			name:  "unknown field in a node",
			input: editShop(t, edit{`{"id": "vm-1", "template": "ubuntu_os"}`, `{"id": "vm-1", "template": "ubuntu_os", "colour": "blue"}`}),
			msgs:  []string{`unknown field "colour"`},
		},
		{
			name:  "unknown top-level field",
			input: editShop(t, edit{`"schema": "stackup.topology/v1",`, `"schema": "stackup.topology/v1", "generated": "2024-05-01",`}),
			msgs:  []string{`unknown field "generated"`},
		},
		{
			name:  "wrong schema",
			input: editShop(t, edit{`"stackup.topology/v1"`, `"stackup.topology/v2"`}),
			item:  "file",
			msgs:  []string{`schema "stackup.topology/v2", want "stackup.topology/v1"`},
		},
		{
			name:  "no schema",
			input: editShop(t, edit{`"schema": "stackup.topology/v1",`, ``}),
			item:  "file",
			msgs:  []string{`schema "", want "stackup.topology/v1"`},
		},
		{
			name:  "null",
			input: `null`,
			item:  "file",
			msgs:  []string{`schema ""`},
		},
		{
			name:  "bad template version",
			input: editShop(t, edit{tomcat, `"id": "tomcat_server", "type": "tomcat", "version": "8.5.x-final"`}),
			item:  `template "tomcat_server"`,
			msgs:  []string{`template "tomcat_server"`, "invalid version", "8.5.x-final"},
		},
		{
			name:  "template without version",
			input: editShop(t, edit{tomcat, `"id": "tomcat_server", "type": "tomcat"`}),
			item:  `template "tomcat_server"`,
			msgs:  []string{`template "tomcat_server"`, "no version: give the version the template deploys"},
		},
		{
			name:  "bad node version",
			input: editShop(t, edit{shop2, `{"id": "shop-2", "template": "shop_app", "version": "latest"`}),
			item:  `node "shop-2"`,
			msgs:  []string{`node "shop-2"`, "invalid version", "latest"},
		},
		{
			name:  "bad constraint",
			input: editShop(t, edit{`">=8.5, <9"`, `">=8.5, <nine"`}),
			item:  `template "shop_app" requirement on "tomcat_server"`,
			msgs:  []string{`template "shop_app" requirement on "tomcat_server"`, "invalid constraint", "<nine"},
		},
		{
			name: "several bad versions",
			input: editShop(t,
				edit{tomcat, `"id": "tomcat_server", "type": "tomcat", "version": "eight"`},
				edit{shop2, `{"id": "shop-2", "template": "shop_app", "version": "1.4.0.0"`},
				edit{`"constraint": ">=8.5.50"`, `"constraint": "8.5.50 or newer"`}),
			item: `template "tomcat_server"`,
			msgs: []string{`template "tomcat_server"`, `node "shop-2"`, `template "billing_app" requirement on "tomcat_server"`},
		},
		{
			name:  "object after the object",
			input: shop + `{"schema": "stackup.topology/v1"}`,
			item:  "file",
			msgs:  []string{"data after the topology object"},
		},
		{
			name:  "text after the object",
			input: shop + "\n# end of file\n",
			item:  "file",
			msgs:  []string{"data after the topology object"},
		},
		{
			name:  "fails Validate",
			input: editShop(t, edit{`"target": "tomcat-3"`, `"target": "tomcat-9"`}),
			item:  `node "shop-3"`,
			msgs:  []string{`node "shop-3"`, `hosted_on unknown node "tomcat-9"`},
		},
		{
			name: "fails Validate twice",
			input: editShop(t,
				edit{`"target": "tomcat-3"`, `"target": "tomcat-9"`},
				edit{`{"id": "vm-2", "template": "ubuntu_os"}`, `{"id": "vm-1", "template": "ubuntu_os"}`}),
			msgs: []string{`node "shop-3"`, `hosted_on unknown node "tomcat-9"`, `node "vm-1": invalid topology: duplicate node ID`},
		},
		{
			name:  "cycle",
			input: editShop(t, edit{`{"id": "vm-1", "template": "ubuntu_os"}`, `{"id": "vm-1", "template": "ubuntu_os", "relationships": [{"relation": "depends_on", "target": "shop-1"}]}`}),
			is:    topology.ErrCycle,
			item:  `node "tomcat-1"`,
			msgs:  []string{"tomcat-1 → java-1 → vm-1 → shop-1 → tomcat-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := topology.ReadJSON(strings.NewReader(tt.input))
			require.Error(t, err)
			assert.Nil(t, m)
			is := tt.is
			if is == nil {
				is = topology.ErrInvalid
			}
			assert.ErrorIs(t, err, is)
			var te *topology.Error
			require.ErrorAs(t, err, &te)
			if tt.item != "" {
				assert.Equal(t, tt.item, te.Item)
			}
			if tt.itemRe != "" {
				assert.Regexp(t, regexp.MustCompile(tt.itemRe), te.Item)
			}
			for _, msg := range tt.msgs {
				assert.Contains(t, err.Error(), msg)
			}
		})
	}
}

// spaces is an endless reader of spaces.
type spaces struct{}

var spaceChunk = bytes.Repeat([]byte{' '}, 64<<10)

func (spaces) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], spaceChunk)
	}
	return n, nil
}

// countingReader counts what is read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestReadJSONSize(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 64 MiB twice")
	}
	const doc = `{"schema": "stackup.topology/v1", "applications": [{"id": "a"}]}`
	tests := []struct {
		name string
		size int64
		ok   bool
	}{
		{"exactly MaxFileSize", topology.MaxFileSize, true},
		{"MaxFileSize+1", topology.MaxFileSize + 1, false},
		{"twice MaxFileSize", 2 * topology.MaxFileSize, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A valid object padded with spaces: only its size is wrong.
			pad := io.LimitReader(spaces{}, tt.size-int64(len(doc)))
			r := &countingReader{r: io.MultiReader(strings.NewReader(doc), pad)}
			m, err := topology.ReadJSON(r)
			assert.LessOrEqual(t, r.n, int64(topology.MaxFileSize+1), "ReadJSON reads no more than it needs")
			if tt.ok {
				require.NoError(t, err)
				assert.Len(t, m.Applications(), 1)
				return
			}
			require.Error(t, err)
			assert.Nil(t, m)
			assert.ErrorIs(t, err, topology.ErrInvalid)
			var te *topology.Error
			require.ErrorAs(t, err, &te)
			assert.Equal(t, "file", te.Item)
			assert.Contains(t, err.Error(), fmt.Sprintf("larger than %d bytes", topology.MaxFileSize))
		})
	}
}

func TestReadJSONReaderError(t *testing.T) {
	boom := errors.New("disk on fire")
	shop := readTestdata(t, shopFile)
	m, err := topology.ReadJSON(io.MultiReader(strings.NewReader(shop[:100]), iotest.ErrReader(boom)))
	require.Error(t, err)
	assert.Nil(t, m)
	assert.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), "reading file")
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteJSONWriterError(t *testing.T) {
	boom := errors.New("disk full")
	err := mustShop(t).WriteJSON(failWriter{boom})
	assert.ErrorIs(t, err, boom)
}

func TestTestdataIsFormatted(t *testing.T) {
	// Every file under testdata that ReadJSON accepts is kept as WriteJSON
	// would write it, except the hand-written shop.json.
	matches, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, matches)
	for _, name := range matches {
		if name == shopFile {
			continue
		}
		in := readTestdata(t, name)
		m, err := topology.ReadJSON(strings.NewReader(in))
		require.NoError(t, err, name)
		assert.Equal(t, in, writeJSON(t, m), name)
	}
}

func TestReadJSONPlacesAndTrailers(t *testing.T) {
	tests := []struct {
		name, in, place string
	}{
		{"first byte", "x", "line 1, column 1"},
		{"second line", "{\n  \"schema\": x\n}", "line 2, column 13"},
		{"stray brace", `{"schema":"stackup.topology/v1","applications":[]}}`, "data after the topology object"},
		{"stray bracket", `{"schema":"stackup.topology/v1","applications":[]}]`, "data after the topology object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := topology.ReadJSON(strings.NewReader(tt.in))
			require.ErrorIs(t, err, topology.ErrInvalid)
			assert.Contains(t, err.Error(), tt.place)
		})
	}
}

func TestWriteJSONEmptyTopology(t *testing.T) {
	m, err := topology.New()
	require.NoError(t, err)
	out := writeJSON(t, m)
	assert.Contains(t, out, `"applications": []`)
	_, err = topology.ReadJSON(strings.NewReader(out))
	require.NoError(t, err)
}

func TestValidateCycleMatchesInvalidToo(t *testing.T) {
	err := topology.Validate(topology.Application{ID: "a",
		Templates: []topology.Template{{ID: "t", Type: "x"}},
		Nodes: []topology.Node{
			{ID: "n1", Template: "t", Relationships: []topology.Relationship{{Relation: topology.DependsOn, Target: "n2"}}},
			{ID: "n2", Template: "t", Relationships: []topology.Relationship{{Relation: topology.DependsOn, Target: "n1"}}},
		}})
	assert.ErrorIs(t, err, topology.ErrCycle)
	assert.ErrorIs(t, err, topology.ErrInvalid)
}

func TestValidateDuplicateRelationship(t *testing.T) {
	err := topology.Validate(topology.Application{ID: "a",
		Templates: []topology.Template{{ID: "t", Type: "x"}},
		Nodes: []topology.Node{
			{ID: "host", Template: "t"},
			{ID: "n", Template: "t", Relationships: []topology.Relationship{
				{Relation: topology.HostedOn, Target: "host"}, {Relation: topology.HostedOn, Target: "host"}}},
		}})
	require.ErrorIs(t, err, topology.ErrInvalid)
	var e *topology.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, `node "n"`, e.Item)
	assert.Contains(t, err.Error(), `duplicate relationship: hosted_on "host"`)
	assert.NotContains(t, err.Error(), "hosted on 2 nodes")
}
