// Command basic plans and runs a platform-first upgrade on built-in data.
//
// An online shop at 1.4 runs as three instances, each on its own Tomcat 8.5
// on Java 8 on Ubuntu 18.04. Shop 2.0 needs Tomcat >=9.0, <11 and Java
// >=11, so the plan upgrades every Java runtime, then every Tomcat, then
// the shop instances, each only after the platform beneath it. The executor
// only pretends to do the work, three steps at a time; the progress comes
// from the runner's events.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

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
	plan, err := planner.Plan(ctx, upgrade.Request{
		Application: "shop",
		Replaces:    "shop_app",
		Template: topology.Template{
			ID: "shop_app", Type: "webapp", Version: version.MustParse("2.0.0"),
			Requirements: []topology.Requirement{
				{Name: "host", Template: "tomcat_server", Constraint: version.MustParseConstraint(">=9.0, <11"), Relation: topology.HostedOn},
				{Name: "runtime", Template: "java_runtime", Constraint: version.MustParseConstraint(">=11")},
				{Name: "os", Template: "ubuntu_os", Constraint: version.MustParseConstraint(">=18.04")},
			},
		},
	})
	if err != nil {
		return err
	}
	if err := plan.WriteText(os.Stdout); err != nil {
		return err
	}

	fmt.Println("\nRunning, three steps at a time:")
	simulate := upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
		select {
		case <-time.After(20 * time.Millisecond): // the work an installer would do
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	progress := func(e upgrade.Event) {
		switch e.Kind {
		case upgrade.StepStarted:
			fmt.Printf("  [%d/%d] start %-26s %s %s → %s\n", e.Done, e.Total, e.Step.ID, e.Step.Node, e.Step.From, e.Step.To)
		case upgrade.StepSucceeded, upgrade.StepFailed, upgrade.StepSkipped:
			fmt.Printf("  [%d/%d] %-5s %s\n", e.Done, e.Total, map[upgrade.EventKind]string{
				upgrade.StepSucceeded: "done", upgrade.StepFailed: "FAIL", upgrade.StepSkipped: "skip"}[e.Kind], e.Step.ID)
		}
	}
	report, err := upgrade.Run(ctx, plan, simulate, upgrade.WithConcurrency(3), upgrade.WithEvents(progress))
	if err != nil {
		return err
	}
	fmt.Printf("\nSteps: %d succeeded, %d failed, %d skipped.\n",
		report.Count(upgrade.Succeeded), report.Count(upgrade.Failed), report.Count(upgrade.Skipped))
	return nil
}

// deployment is the shop as deployed today.
func deployment() (*topology.Memory, error) {
	var b topology.Builder
	b.Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: version.MustParse("1.4.0"),
		Requirements: []topology.Requirement{
			{Name: "host", Template: "tomcat_server", Constraint: version.MustParseConstraint(">=8.5, <9"), Relation: topology.HostedOn},
		}}).
		Template("shop", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: version.MustParse("8.5.100"),
			Requirements: []topology.Requirement{{Name: "runtime", Template: "java_runtime", Constraint: version.MustParseConstraint(">=8")}}}).
		Template("shop", topology.Template{ID: "java_runtime", Type: "jdk", Version: version.MustParse("8.0.402")}).
		Template("shop", topology.Template{ID: "ubuntu_os", Type: "ubuntu", Version: version.MustParse("18.04")})
	for i := 1; i <= 3; i++ {
		id := func(prefix string) topology.NodeID { return topology.NodeID(fmt.Sprintf("%s-%d", prefix, i)) }
		b.Node("shop", topology.Node{ID: id("vm"), Template: "ubuntu_os"}).
			Node("shop", topology.Node{ID: id("java"), Template: "java_runtime",
				Relationships: []topology.Relationship{{Relation: topology.HostedOn, Target: id("vm")}}}).
			Node("shop", topology.Node{ID: id("tomcat"), Template: "tomcat_server",
				Relationships: []topology.Relationship{{Relation: topology.HostedOn, Target: id("java")}}}).
			Node("shop", topology.Node{ID: id("shop"), Template: "shop_app",
				Relationships: []topology.Relationship{{Relation: topology.HostedOn, Target: id("tomcat")}}})
	}
	return b.Build()
}

// catalogue is the package repository: several Tomcat and JDK releases.
func catalogue() (*pkgsource.Memory, error) {
	pkg := func(typ, v string) pkgsource.Package {
		return pkgsource.Package{Type: typ, Version: version.MustParse(v), Location: fmt.Sprintf("%s-%s.tar.gz", typ, v)}
	}
	return pkgsource.NewMemory(
		pkg("tomcat", "9.0.85"), pkg("tomcat", "9.0.98"), pkg("tomcat", "10.1.18"), pkg("tomcat", "10.1.34"), pkg("tomcat", "11.0.2"),
		pkg("jdk", "11.0.22"), pkg("jdk", "17.0.10"), pkg("jdk", "21.0.2"),
	)
}
