package topology_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// manyRelationships is a JSON topology with one node of n relationships,
// each to a node of its own.
func manyRelationships(n int) string {
	var b strings.Builder
	b.WriteString(`{"schema": "stackup.topology/v1", "applications": [{"id": "a", "templates": [{"id": "t", "type": "x", "version": "1"}], "nodes": [{"id": "n", "template": "t", "relationships": [`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"relation": "depends_on", "target": "m%d"}`, i)
	}
	b.WriteString(`]}`)
	for i := range n {
		fmt.Fprintf(&b, `,{"id": "m%d", "template": "t"}`, i)
	}
	b.WriteString(`]}]}`)
	return b.String()
}

// manyTemplates is a TOSCA service template of n node templates, each
// but the last requiring the next, and an instance file of a node of each.
func manyTemplates(n int) (service, instances string) {
	var s, in strings.Builder
	s.WriteString(toscaVersionLine + "topology_template:\n  node_templates:\n")
	in.WriteString("schema: stackup.instances/v1\napplication: a\nnodes:\n")
	for i := range n - 1 {
		fmt.Fprintf(&s, "    t%d: {type: x, properties: {version: 1}, requirements: [{dep: t%d}]}\n", i, i+1)
		fmt.Fprintf(&in, "  - {id: n%d, template: t%d, relationships: [{requirement: dep, target: n%d}]}\n", i, i, i+1)
	}
	fmt.Fprintf(&s, "    t%d: {type: x, properties: {version: 1}}\n", n-1)
	fmt.Fprintf(&in, "  - {id: n%d, template: t%d}\n", n-1, n-1)
	return s.String(), in.String()
}

// The benchmarks below take time in proportion to n: ns/op per item
// should stay flat as n grows tenfold. Reading them used to take time in
// proportion to n² (a search of the relationships before each one, of
// the templates for each requirement target and each node).

func BenchmarkReadJSONRelationships(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		file := manyRelationships(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(len(file)))
			for b.Loop() {
				if _, err := topology.ReadJSON(strings.NewReader(file)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadTOSCATemplates(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		service, instances := manyTemplates(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(len(service) + len(instances)))
			for b.Loop() {
				if _, err := readTOSCA(service, instances); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadTOSCAValidValuesBomb reads the service template of
// TestReadTOSCAValidValuesBomb, refused before its constraint is built.
func BenchmarkReadTOSCAValidValuesBomb(b *testing.B) {
	service := fmt.Sprintf(reqService, validValuesBomb(2000, 2000))
	b.SetBytes(int64(len(service)))
	for b.Loop() {
		if _, err := readTOSCA(service, noInstances); err == nil {
			b.Fatal("read")
		}
	}
}

// TestReadLarge reads the large files of the benchmarks, to check that
// what they read is right.
func TestReadLarge(t *testing.T) {
	m, err := topology.ReadJSON(strings.NewReader(manyRelationships(3000)))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := m.Dependents(t.Context(), "m2999")
	if err != nil || len(ds) != 1 || ds[0].Node != "n" {
		t.Fatalf("dependents of m2999: %v, %v", ds, err)
	}
	dup := strings.Replace(manyRelationships(3000), `"target": "m2999"}`, `"target": "m0"}`, 1)
	_, err = topology.ReadJSON(strings.NewReader(dup))
	checkError(t, err, nil, `node "n"`, `duplicate relationship: depends_on "m0"`)

	m, err = readTOSCA(manyTemplates(3000))
	if err != nil {
		t.Fatal(err)
	}
	n, err := m.Node(t.Context(), "n2998")
	if err != nil || len(n.Relationships) != 1 || n.Relationships[0] != (topology.Relationship{Relation: topology.DependsOn, Target: "n2999"}) {
		t.Fatalf("node n2998: %+v, %v", n, err)
	}
}

// fleetFile is a topology file of a fleet, in JSON or (yaml) YAML block
// style as people write it: apps applications of instances nodes each, on
// stacks server → runtime → OS stacks, each node with its version.
func fleetFile(apps, instances, stacks int, yaml bool) []byte {
	var b strings.Builder
	if yaml {
		b.WriteString("schema: stackup.topology/v1\napplications:\n  - id: platform\n    templates:\n")
		for _, t := range [][3]string{{"os", "ubuntu", ""}, {"rt", "jdk", "os"}, {"srv", "tomcat", "rt"}} {
			id, typ, below := t[0], t[1], t[2]
			fmt.Fprintf(&b, "      - id: %s\n        type: %s\n        version: 1.0.0\n", id, typ)
			if below != "" {
				fmt.Fprintf(&b, "        requirements:\n          - template: %s\n            constraint: \">=1.0\"\n            relation: hosted_on\n", below)
			}
		}
		b.WriteString("    nodes:\n")
		for s := range stacks {
			fmt.Fprintf(&b, "      - id: os-%05d\n        template: os\n        version: 1.%d.0\n", s, s%5)
			fmt.Fprintf(&b, "      - id: rt-%05d\n        template: rt\n        version: 1.%d.0\n        relationships:\n          - relation: hosted_on\n            target: os-%05d\n", s, s%3, s)
			fmt.Fprintf(&b, "      - id: srv-%05d\n        template: srv\n        version: 1.%d.0\n        relationships:\n          - relation: hosted_on\n            target: rt-%05d\n", s, s%4, s)
		}
		for a := range apps {
			fmt.Fprintf(&b, "  - id: app-%05d\n    templates:\n      - id: app-%05d_web\n        type: webapp\n        version: 1.0.0\n        requirements:\n          - template: srv\n            constraint: \">=1.0\"\n            relation: hosted_on\n    nodes:\n", a, a)
			for i := range instances {
				fmt.Fprintf(&b, "      - id: app-%05d-%03d\n        template: app-%05d_web\n        version: 1.0.0\n        relationships:\n          - relation: hosted_on\n            target: srv-%05d\n", a, i, a, (a*instances+i)*7919%stacks)
			}
		}
		return []byte(b.String())
	}
	b.WriteString(`{"schema": "stackup.topology/v1", "applications": [{"id": "platform", "templates": [`)
	b.WriteString(`{"id": "os", "type": "ubuntu", "version": "1.0.0"}, `)
	b.WriteString(`{"id": "rt", "type": "jdk", "version": "1.0.0", "requirements": [{"template": "os", "constraint": ">=1.0", "relation": "hosted_on"}]}, `)
	b.WriteString(`{"id": "srv", "type": "tomcat", "version": "1.0.0", "requirements": [{"template": "rt", "constraint": ">=1.0", "relation": "hosted_on"}]}], "nodes": [`)
	for s := range stacks {
		if s > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `{"id": "os-%05d", "template": "os", "version": "1.%d.0"},`+"\n", s, s%5)
		fmt.Fprintf(&b, `{"id": "rt-%05d", "template": "rt", "version": "1.%d.0", "relationships": [{"relation": "hosted_on", "target": "os-%05d"}]},`+"\n", s, s%3, s)
		fmt.Fprintf(&b, `{"id": "srv-%05d", "template": "srv", "version": "1.%d.0", "relationships": [{"relation": "hosted_on", "target": "rt-%05d"}]}`, s, s%4, s)
	}
	b.WriteString("]}")
	for a := range apps {
		fmt.Fprintf(&b, `,
{"id": "app-%05d", "templates": [{"id": "app-%05d_web", "type": "webapp", "version": "1.0.0", "requirements": [{"template": "srv", "constraint": ">=1.0", "relation": "hosted_on"}]}], "nodes": [`, a, a)
		for i := range instances {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "\n"+`{"id": "app-%05d-%03d", "template": "app-%05d_web", "version": "1.0.0", "relationships": [{"relation": "hosted_on", "target": "srv-%05d"}]}`, a, i, a, (a*instances+i)*7919%stacks)
		}
		b.WriteString("]}")
	}
	b.WriteString("]}\n")
	return []byte(b.String())
}

// BenchmarkReadFleet reads a topology file of a fleet of about 103,000
// nodes (10,000 applications of 10 instances on 1,000 stacks), as the
// example program does before every plan, in JSON and in YAML.
func BenchmarkReadFleet(b *testing.B) {
	for _, format := range []string{"json", "yaml"} {
		file := fleetFile(10000, 10, 1000, format == "yaml")
		read := topology.ReadJSON
		if format == "yaml" {
			read = topology.ReadYAML
		}
		b.Run(format, func(b *testing.B) {
			b.SetBytes(int64(len(file)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := read(bytes.NewReader(file)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/103000, "ns/node")
		})
	}
}

// TestReadFleetFile reads the fleet files of BenchmarkReadFleet, small,
// to check that they are what the benchmark says.
func TestReadFleetFile(t *testing.T) {
	for _, yaml := range []bool{false, true} {
		read := topology.ReadJSON
		if yaml {
			read = topology.ReadYAML
		}
		m, err := read(bytes.NewReader(fleetFile(20, 3, 7, yaml)))
		if err != nil {
			t.Fatal(err)
		}
		n, err := m.Node(t.Context(), "app-00019-002")
		if err != nil || n.Template != "app-00019_web" || len(n.Relationships) != 1 || n.Relationships[0].Target != "srv-00006" {
			t.Fatalf("yaml %v: node app-00019-002: %+v, %v", yaml, n, err)
		}
		n, err = m.Node(t.Context(), "rt-00004")
		if err != nil || n.Version.String() != "1.1.0" || n.Relationships[0].Target != "os-00004" {
			t.Fatalf("yaml %v: node rt-00004: %+v, %v", yaml, n, err)
		}
		ds, err := m.Dependents(t.Context(), "srv-00006")
		if err != nil || len(ds) == 0 {
			t.Fatalf("yaml %v: dependents of srv-00006: %v, %v", yaml, ds, err)
		}
	}
}

// TestReadFleetFileRepeatedBadVersion: reading parses each version and
// constraint text once, but a bad one is still reported for every node
// and template that gives it, each at its own place.
func TestReadFleetFileRepeatedBadVersion(t *testing.T) {
	for _, yaml := range []bool{false, true} {
		read, file := topology.ReadJSON, string(fleetFile(3, 2, 2, yaml))
		if yaml {
			read = topology.ReadYAML
		}
		file = strings.ReplaceAll(file, "1.0.0", "1.0.0.0")    // every application node's and template's version
		file = strings.ReplaceAll(file, `">=1.0"`, `">= one"`) // every requirement's constraint
		_, err := read(strings.NewReader(file))
		require.ErrorIs(t, err, topology.ErrInvalid)
		count := map[string]int{}
		for _, p := range problems(t, err) {
			assert.ErrorIs(t, p, topology.ErrInvalid, p.Item)
			kind, _, _ := strings.Cut(p.Item, " ")
			if yaml {
				_, rest, _ := strings.Cut(p.Item, ": ") // "line N: node …"
				kind, _, _ = strings.Cut(rest, " ")
			}
			if strings.Contains(p.Item, "requirement on") {
				kind = "requirement"
			}
			count[kind]++
			count[p.Item]++
		}
		// 6 templates, 5 requirements, 3 platform nodes at 1.0.0 and 6
		// application nodes, each named once.
		assert.Equal(t, 6, count["template"], "yaml %v: %v", yaml, count)
		assert.Equal(t, 5, count["requirement"], "yaml %v: %v", yaml, count)
		assert.Equal(t, 9, count["node"], "yaml %v: %v", yaml, count)
		for item, n := range count {
			assert.True(t, n == 1 || !strings.Contains(item, `"`), "%s: %d times", item, n)
		}
	}
}
