package topology_test

import (
	"fmt"
	"strings"
	"testing"

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
