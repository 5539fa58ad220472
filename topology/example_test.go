package topology_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

func ExampleBuilder() {
	hosted := func(target topology.NodeID) []topology.Relationship {
		return []topology.Relationship{{Relation: topology.HostedOn, Target: target}}
	}
	m, err := new(topology.Builder).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: version.MustParse("1.4.0"),
			Requirements: []topology.Requirement{{Name: "host", Template: "tomcat_server",
				Constraint: version.MustParseConstraint(">=8.5, <9"), Relation: topology.HostedOn}}}).
		Template("shop", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: version.MustParse("8.5.100")}).
		Template("billing", topology.Template{ID: "billing_app", Type: "webapp", Version: version.MustParse("2.1.0")}).
		Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server"}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app", Relationships: hosted("tomcat-1")}).
		Node("billing", topology.Node{ID: "billing-1", Template: "billing_app", Relationships: hosted("tomcat-1")}).
		Build()
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	n, err := m.Node(ctx, "tomcat-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: application %s, version %s\n", n.ID, n.App, n.Version)

	ds, err := m.Dependents(ctx, "tomcat-1")
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range ds {
		fmt.Printf("  %s/%s %s it, requires %s\n", d.App, d.Node, d.Relation, d.Constraint)
	}
	// Output:
	// tomcat-1: application shop, version 8.5.100
	//   billing/billing-1 hosted_on it, requires *
	//   shop/shop-1 hosted_on it, requires >=8.5, <9
}

func ExampleReadJSON() {
	const file = `{
  "schema": "stackup.topology/v1",
  "applications": [{
    "id": "shop",
    "templates": [
      {"id": "shop_app", "type": "webapp", "version": "1.4.0",
       "requirements": [{"name": "host", "template": "tomcat_server", "constraint": ">=8.5, <9", "relation": "hosted_on"}]},
      {"id": "tomcat_server", "type": "tomcat", "version": "8.5.100"}
    ],
    "nodes": [
      {"id": "tomcat-1", "template": "tomcat_server"},
      {"id": "shop-1", "template": "shop_app", "relationships": [{"relation": "hosted_on", "target": "tomcat-1"}]}
    ]
  }]
}`
	m, err := topology.ReadJSON(strings.NewReader(file))
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range m.Applications() {
		for _, n := range a.Nodes {
			fmt.Printf("%s/%s %s %s\n", a.ID, n.ID, n.Template, n.Version)
		}
	}

	// A file that names an unknown node is refused, naming the node at fault.
	_, err = topology.ReadJSON(strings.NewReader(strings.Replace(file, `"target": "tomcat-1"`, `"target": "tomcat-2"`, 1)))
	var problem *topology.Error
	if errors.As(err, &problem) {
		fmt.Println(problem.Item, "-", errors.Is(err, topology.ErrInvalid))
		fmt.Println(problem)
	}
	// Output:
	// shop/tomcat-1 tomcat_server 8.5.100
	// shop/shop-1 shop_app 1.4.0
	// node "shop-1" - true
	// topology: node "shop-1": invalid topology: hosted_on unknown node "tomcat-2": add the node to an application of the topology, or name one it holds
}
