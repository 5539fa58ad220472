// Command shared-platform shows the planner with a platform that two
// applications share.
//
// The orders and reports applications both use one PostgreSQL cluster of
// two nodes. Orders 4.0 needs PostgreSQL 15 or later, but reports 1.x only
// works below 15: planning orders alone fails with a conflict that names
// the reports node in the way. Planning orders 4.0 together with reports
// 2.0, which works with PostgreSQL 14 and later, succeeds: one upgrade of
// each database node satisfies both, after the operating system beneath it
// (PostgreSQL 16 needs Ubuntu 22.04), and before either application.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	topo, err := deployment()
	if err != nil {
		return err
	}
	packages, err := catalogue()
	if err != nil {
		return err
	}
	planner := upgrade.NewPlanner(topo, packages)
	orders := request("orders", "orders_app", "4.0.0", ">=15")
	reports := request("reports", "reports_app", "2.0.0", ">=14")

	fmt.Println("Planning orders 4.0 alone:")
	_, err = planner.Plan(ctx, orders)
	var conflict *upgrade.ConflictError
	if !errors.As(err, &conflict) {
		return fmt.Errorf("expected a conflict, got %v", err)
	}
	fmt.Printf("  refused: %v\n", err)
	for _, b := range conflict.Blocking {
		fmt.Printf("  in the way: node %s of application %s needs %s %s\n", b.Node, b.App, conflict.Type, b.Constraint)
	}
	fmt.Printf("  versions tried: %v\n", conflict.Tried)

	fmt.Println("\nPlanning orders 4.0 and reports 2.0 together:")
	plan, err := planner.PlanAll(ctx, orders, reports)
	if err != nil {
		return err
	}
	if err := plan.WriteText(os.Stdout); err != nil {
		return err
	}
	fmt.Println("\nWhy that version of PostgreSQL:")
	if err := plan.Explain(os.Stdout, "pg-1"); err != nil {
		return err
	}
	fmt.Println("\nThe plan as a Mermaid diagram:")
	return plan.WriteMermaid(os.Stdout)
}

func request(app topology.AppID, template topology.TemplateID, v, postgres string) upgrade.Request {
	return upgrade.Request{Application: app, Replaces: template, Template: topology.Template{
		ID: template, Type: "webapp", Version: version.MustParse(v),
		Requirements: []topology.Requirement{
			{Name: "database", Template: "pg_cluster", Constraint: version.MustParseConstraint(postgres), Relation: topology.DependsOn},
		}}}
}

// deployment: the cluster belongs to the data application; orders and
// reports each have one node that depends on both database nodes.
func deployment() (*topology.Memory, error) {
	var b topology.Builder
	b.Template("data", topology.Template{ID: "pg_cluster", Type: "postgres", Version: version.MustParse("12.18")}).
		Template("data", topology.Template{ID: "db_os", Type: "ubuntu", Version: version.MustParse("20.04")})
	for _, n := range []string{"1", "2"} {
		b.Node("data", topology.Node{ID: topology.NodeID("dbvm-" + n), Template: "db_os"}).
			Node("data", topology.Node{ID: topology.NodeID("pg-" + n), Template: "pg_cluster",
				Relationships: []topology.Relationship{{Relation: topology.HostedOn, Target: topology.NodeID("dbvm-" + n)}}})
	}
	uses := []topology.Relationship{{Relation: topology.DependsOn, Target: "pg-1"}, {Relation: topology.DependsOn, Target: "pg-2"}}
	for _, app := range []struct {
		id       topology.AppID
		template topology.TemplateID
		version  string
		postgres string
	}{{"orders", "orders_app", "3.2.0", ">=12, <15"}, {"reports", "reports_app", "1.7.0", ">=12, <15"}} {
		b.Template(app.id, topology.Template{ID: app.template, Type: "webapp", Version: version.MustParse(app.version),
			Requirements: []topology.Requirement{{Name: "database", Template: "pg_cluster", Constraint: version.MustParseConstraint(app.postgres)}}}).
			Node(app.id, topology.Node{ID: topology.NodeID(app.id + "-1"), Template: app.template, Relationships: uses})
	}
	return b.Build()
}

// catalogue: PostgreSQL 13 to 16 (16 needs Ubuntu 22.04) and Ubuntu 22.04.
func catalogue() (*pkgsource.Memory, error) {
	pg := func(v string) pkgsource.Package {
		return pkgsource.Package{Type: "postgres", Version: version.MustParse(v)}
	}
	pg16 := pg("16.2")
	pg16.Requires = []pkgsource.Requirement{{Type: "ubuntu", Constraint: version.MustParseConstraint(">=22.04")}}
	return pkgsource.NewMemory(pg("13.14"), pg("14.11"), pg("15.6"), pg16,
		pkgsource.Package{Type: "ubuntu", Version: version.MustParse("22.04")})
}
