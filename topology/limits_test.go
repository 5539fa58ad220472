package topology_test

import (
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// maxLoadAlloc bounds what reading one hostile file may allocate, in all:
// the files below would take hundreds of megabytes, or gigabytes, to
// expand.
const maxLoadAlloc = 64 << 20

// allocated returns the bytes f allocates (runtime.MemStats.TotalAlloc),
// whatever the garbage collector frees meanwhile. The test calling it must
// not be parallel.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// validValuesBomb returns requirements for reqService whose node_filter
// has a valid_values list of values entries and clauses other clauses:
// multiplied out, values × clauses clauses.
func validValuesBomb(values, clauses int) string {
	var b strings.Builder
	b.WriteString("        - host:\n            node: server\n            node_filter:\n              properties:\n")
	b.WriteString("                - version: { valid_values: [ ")
	for i := range values {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "8.5.%d", i)
	}
	b.WriteString(" ] }\n                - component_version: [ ")
	for i := range clauses {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "{ greater_or_equal: 1.0.%d }", i)
	}
	b.WriteString(" ]\n")
	return b.String()
}

// TestReadTOSCAValidValuesBomb attacks the constraint a node_filter makes:
// each valid_values entry becomes an alternative repeating every other
// clause, so a small file multiplies out to a huge constraint. It is
// refused as soon as the constraint would pass version.MaxLength, without
// building it.
func TestReadTOSCAValidValuesBomb(t *testing.T) {
	const where = "node_templates.app.requirements[0].host.node_filter"
	tests := []struct {
		name            string
		values, clauses int
	}{
		{"many values and many clauses", 2000, 2000},
		{"many values, one clause", 20000, 1},
		{"one value, many clauses", 1, 20000},
		{"just too long", 12, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs := validValuesBomb(tt.values, tt.clauses)
			service := fmt.Sprintf(reqService, reqs)
			var m *topology.Memory
			var err error
			n := allocated(func() { m, err = readTOSCA(service, noInstances) })
			assert.Nil(t, m)
			assert.Less(t, n, uint64(maxLoadAlloc), "reading a %d-byte service template allocated %d bytes", len(service), n)
			t.Logf("%d-byte file: %d bytes allocated; %v", len(service), n, err)
			te := checkError(t, err, version.ErrTooLong, "", "too long", fmt.Sprint(version.MaxLength), "fewer valid_values", "in_range")
			assert.ErrorIs(t, err, version.ErrInvalidConstraint)
			assert.Regexp(t, `^line \d+: `+strings.ReplaceAll(strings.ReplaceAll(where, ".", `\.`), "[", `\[`), te.Item)
		})
	}

	// A constraint just within the limit is read.
	t.Run("within the limit", func(t *testing.T) {
		_, m, err := readReqService(t, validValuesBomb(8, 2))
		require.NoError(t, err)
		tm, err := m.Template(t.Context(), "app")
		require.NoError(t, err)
		require.Len(t, tm.Requirements, 1)
		got := tm.Requirements[0].Constraint.String()
		assert.LessOrEqual(t, len(got), version.MaxLength)
		assert.Equal(t, 8, strings.Count(got, "||")+1)
	})
}

// laughs returns YAML lines defining anchors l0 to l<levels-1> under key,
// indented by indent: l0 a list of ten scalars, each further one a list of
// ten aliases of the one before, so l<levels-1> expands to 10^levels
// scalars (a "billion laughs" at nine levels).
func laughs(indent string, levels int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%sl0: &l0 [%s]\n", indent, strings.TrimSuffix(strings.Repeat("lol, ", 10), ", "))
	for i := 1; i < levels; i++ {
		fmt.Fprintf(&b, "%sl%d: &l%d [%s]\n", indent, i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	return b.String()
}

// aliasAttack is a hostile YAML file and the alias it must be refused at.
type aliasAttack struct {
	name  string
	read  func(string) (*topology.Memory, error)
	file  string
	alias string // the start of the alias at fault, such as "*l"
}

func readYAMLString(s string) (*topology.Memory, error) {
	return topology.ReadYAML(strings.NewReader(s))
}

func readServiceString(s string) (*topology.Memory, error) {
	return readTOSCA(s, noInstances)
}

// aliasAttacks returns files for each YAML reader that aliases expand to
// millions of nodes: billion laughs (anchors of anchors) and the
// quadratic kind (n aliases of a list of n items).
func aliasAttacks() []aliasAttack {
	const n = 3000
	var attacks []aliasAttack

	// Plain YAML topology: the applications share one list of n nodes.
	var yq strings.Builder
	yq.WriteString("schema: stackup.topology/v1\napplications:\n  - id: a0\n    templates: [{id: t, type: x, version: 1.0.0}]\n    nodes: &nodes\n")
	for i := range n {
		fmt.Fprintf(&yq, "      - {id: n%d, template: t}\n", i)
	}
	for i := 1; i < n; i++ {
		fmt.Fprintf(&yq, "  - {id: a%d, templates: [], nodes: *nodes}\n", i)
	}
	attacks = append(attacks,
		aliasAttack{"yaml quadratic", readYAMLString, yq.String(), "*nodes"},
		aliasAttack{"yaml laughs", readYAMLString,
			"schema: stackup.topology/v1\napplications:\n  - id: a\n    templates: []\n    nodes: []\n" +
				"    x:\n" + laughs("      ", 9), "*l"},
	)

	// TOSCA service template: n node templates share one list of n
	// requirements; or dsl_definitions laugh.
	var sq strings.Builder
	sq.WriteString(toscaVersionLine + "dsl_definitions:\n  reqs: &reqs\n")
	for i := range n {
		fmt.Fprintf(&sq, "    - r%d: t0\n", i)
	}
	sq.WriteString("topology_template:\n  node_templates:\n")
	for i := range n {
		fmt.Fprintf(&sq, "    t%d: {type: x, properties: {version: 1.0.0}, requirements: *reqs}\n", i)
	}
	attacks = append(attacks,
		aliasAttack{"tosca quadratic", readServiceString, sq.String(), "*reqs"},
		aliasAttack{"tosca laughs", readServiceString, toscaVersionLine + "dsl_definitions:\n" + laughs("  ", 9) +
			"topology_template:\n  node_templates:\n    t: {type: x, properties: {version: 1.0.0, v: *l8}}\n", "*l"},
	)

	// TOSCA instance file: nodes repeat one list of n relationships.
	var iq strings.Builder
	iq.WriteString("schema: stackup.instances/v1\napplication: a\nnodes:\n  - id: n0\n    template: t\n    relationships: &rels\n")
	for i := range n {
		fmt.Fprintf(&iq, "      - {relation: depends_on, target: n%d}\n", i)
	}
	for i := 1; i < n; i++ {
		fmt.Fprintf(&iq, "  - {id: n%d, template: t, relationships: *rels}\n", i)
	}
	service := toscaVersionLine + "topology_template:\n  node_templates:\n    t: {type: x, properties: {version: 1.0.0}}\n"
	readInstances := func(s string) (*topology.Memory, error) { return readTOSCA(service, s) }
	attacks = append(attacks,
		aliasAttack{"instances quadratic", readInstances, iq.String(), "*rels"},
		aliasAttack{"instances laughs", readInstances,
			"schema: stackup.instances/v1\napplication: a\nnodes: []\nx:\n" + laughs("  ", 9), "*l"},
	)
	return attacks
}

// TestReadYAMLAliasBombs attacks every YAML reader with aliases that
// expand a file of a few hundred kilobytes to millions of nodes. Each is
// refused before anything is decoded, with bounded memory, naming the
// alias at which the document passes its budget.
func TestReadYAMLAliasBombs(t *testing.T) {
	for _, tt := range aliasAttacks() {
		t.Run(tt.name, func(t *testing.T) {
			var m *topology.Memory
			var err error
			n := allocated(func() { m, err = tt.read(tt.file) })
			t.Logf("%d-byte file: %d bytes allocated; %v", len(tt.file), n, err)
			assert.Nil(t, m)
			assert.Less(t, n, uint64(maxLoadAlloc), "reading a %d-byte file allocated %d bytes", len(tt.file), n)
			te := checkError(t, err, nil, "", "aliases expand the document", "fewer aliases")
			assert.Regexp(t, `^line \d+: alias `+regexp.QuoteMeta(tt.alias), te.Item)
		})
	}
}

// TestReadYAMLAliasWithin attacks checkAliases itself with an alias
// within the node it names, which expands forever.
func TestReadYAMLAliasWithin(t *testing.T) {
	for name, read := range map[string]func(string) (*topology.Memory, error){
		"yaml":    readYAMLString,
		"service": readServiceString,
	} {
		t.Run(name, func(t *testing.T) {
			file := "schema: stackup.topology/v1\napplications: &apps\n  - id: a\n    templates: *apps\n"
			m, err := read(file)
			assert.Nil(t, m)
			checkError(t, err, nil, "line 4: alias *apps", "within the node it names (line 2)", "remove the alias")
		})
	}
}

// TestReadYAMLAliasesWithinBudget reads files whose aliases stay within
// the budget: anchors are YAML, and TOSCA's dsl_definitions exist for
// them.
func TestReadYAMLAliasesWithinBudget(t *testing.T) {
	yml := editFile(t, shopYAMLFile, edit{"version: 8.5.100", "version: &v 8.5.100"},
		edit{"version: 8.5.96", "version: *v"})
	m, err := readYAMLString(yml)
	require.NoError(t, err)
	n, err := m.Node(t.Context(), "tomcat-3")
	require.NoError(t, err)
	assert.Equal(t, "8.5.100", n.Version.String())

	// 100 node templates share a block of 20 requirements: 10 times
	// its own size, well within the budget.
	var s strings.Builder
	s.WriteString(toscaVersionLine + "dsl_definitions:\n  reqs: &reqs\n")
	for i := range 20 {
		fmt.Fprintf(&s, "    - r%d: t%d\n", i, i)
	}
	s.WriteString("topology_template:\n  node_templates:\n")
	for i := range 100 {
		fmt.Fprintf(&s, "    t%d: {type: x, properties: {version: 1.0.0}, requirements: *reqs}\n", i)
	}
	m, err = readServiceString(s.String())
	require.NoError(t, err)
	tm, err := m.Template(t.Context(), "t99")
	require.NoError(t, err)
	assert.Len(t, tm.Requirements, 20)
}

// requirementsOnOne is a JSON topology whose template t has reqs
// requirements naming template x, and whose
// node n has rels relationships to nodes of x: rels × reqs dependencies.
func requirementsOnOne(reqs, rels int) string {
	var b strings.Builder
	b.WriteString(`{"schema": "stackup.topology/v1", "applications": [{"id": "a", "templates": [{"id": "x", "type": "x", "version": "1"}, {"id": "t", "type": "x", "version": "1", "requirements": [`)
	for i := range reqs {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"name": "r%d", "template": "x"}`, i)
	}
	b.WriteString(`]}], "nodes": [{"id": "n", "template": "t", "relationships": [`)
	for i := range rels {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"relation": "depends_on", "target": "m%d"}`, i)
	}
	b.WriteString(`]}`)
	for i := range rels {
		fmt.Fprintf(&b, `,{"id": "m%d", "template": "x"}`, i)
	}
	b.WriteString(`]}]}`)
	return b.String()
}

// TestReadRequirementsOnOneTemplate attacks the dependencies New builds:
// each relationship to a node of template x meets every requirement of
// the node's template on x, so 2,000 of each in a 200 KB file made 4
// million dependencies (1.4 GB allocated). A template may have at
// most 64 requirements on one template.
func TestReadRequirementsOnOneTemplate(t *testing.T) {
	file := requirementsOnOne(2000, 2000)
	var m *topology.Memory
	var err error
	n := allocated(func() { m, err = topology.ReadJSON(strings.NewReader(file)) })
	t.Logf("%d-byte file: %d bytes allocated; %v", len(file), n, err)
	assert.Nil(t, m)
	assert.Less(t, n, uint64(maxLoadAlloc))
	checkError(t, err, nil, `template "t"`, `2000 requirements name template "x", at most 64`, "merge them")

	_, err = topology.ReadJSON(strings.NewReader(requirementsOnOne(65, 1)))
	checkError(t, err, nil, `template "t"`, `65 requirements name template "x", at most 64`)

	m, err = topology.ReadJSON(strings.NewReader(requirementsOnOne(64, 3)))
	require.NoError(t, err)
	ds, err := m.Dependents(t.Context(), "m2")
	require.NoError(t, err)
	assert.Len(t, ds, 64)
}

// TestCycleReportBounded: a file of n nodes can hold n cycles of n nodes
// each (a chain whose every node also depends on the first). The error
// reports the first ten, each cut after 32 nodes, and counts the rest: in
// proportion to the file, not to its square (it was 104 MB for 4,000
// nodes).
func TestCycleReportBounded(t *testing.T) {
	const n = 4000
	var b strings.Builder
	b.WriteString(`{"schema":"stackup.topology/v1","applications":[{"id":"a","templates":[{"id":"t","type":"x","version":"1"}],"nodes":[`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":"n%07d","template":"t","relationships":[`, i)
		sep := ""
		if i+1 < n {
			fmt.Fprintf(&b, `{"relation":"hosted_on","target":"n%07d"}`, i+1)
			sep = ","
		}
		if i > 0 {
			b.WriteString(sep + `{"relation":"depends_on","target":"n0000000"}`)
		}
		b.WriteString("]}")
	}
	b.WriteString("]}]}")
	_, err := topology.ReadJSON(strings.NewReader(b.String()))
	require.ErrorIs(t, err, topology.ErrCycle)
	msg := err.Error()
	assert.Less(t, len(msg), 16<<10, "the error is bounded")
	assert.Equal(t, 10, strings.Count(msg, "→ n0000000"), "ten cycles shown")
	assert.Contains(t, msg, fmt.Sprintf("%d more cycles; break the ones above first", n-1-10))

	// One ring of 40 nodes: shown up to its 32nd node.
	ring := new(topology.Builder).Template("a", topology.Template{ID: "t", Type: "x", Version: version.MustParse("1")})
	for i := range 40 {
		ring.Node("a", topology.Node{ID: topology.NodeID(fmt.Sprintf("r%02d", i)), Template: "t",
			Relationships: []topology.Relationship{{Relation: topology.DependsOn, Target: topology.NodeID(fmt.Sprintf("r%02d", (i+1)%40))}}})
	}
	_, err = ring.Build()
	require.ErrorIs(t, err, topology.ErrCycle)
	assert.Contains(t, err.Error(), "relationship cycle: r00 → r01 → ")
	assert.Contains(t, err.Error(), " → r31 → … 8 more → r00")
}
