package upgrade_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

// A web shop runs on Tomcat 8.5 on Java 8. Shop 2.0 needs Tomcat 9 or 10
// and Java 11 or later: the plan upgrades Java, then Tomcat, then the shop.
func exampleSetup() (*topology.Memory, *pkgsource.Memory, upgrade.Request) {
	topo, err := new(topology.Builder).
		Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: version.MustParse("1.4.0")}).
		Template("shop", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: version.MustParse("8.5.100")}).
		Template("shop", topology.Template{ID: "java_runtime", Type: "jdk", Version: version.MustParse("8.0.402")}).
		Node("shop", topology.Node{ID: "java-1", Template: "java_runtime"}).
		Node("shop", topology.Node{ID: "tomcat-1", Template: "tomcat_server",
			Relationships: []topology.Relationship{{Relation: topology.HostedOn, Target: "java-1"}}}).
		Node("shop", topology.Node{ID: "shop-1", Template: "shop_app",
			Relationships: []topology.Relationship{{Relation: topology.HostedOn, Target: "tomcat-1"}}}).
		Build()
	if err != nil {
		panic(err)
	}
	packages, err := pkgsource.NewMemory(
		pkgsource.Package{Type: "tomcat", Version: version.MustParse("9.0.98")},
		pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.34")},
		pkgsource.Package{Type: "tomcat", Version: version.MustParse("11.0.2")},
		pkgsource.Package{Type: "jdk", Version: version.MustParse("17.0.10")},
		pkgsource.Package{Type: "jdk", Version: version.MustParse("21.0.2")},
	)
	if err != nil {
		panic(err)
	}
	req := upgrade.Request{
		Application: "shop",
		Replaces:    "shop_app",
		Template: topology.Template{ID: "shop_app", Type: "webapp", Version: version.MustParse("2.0.0"),
			Requirements: []topology.Requirement{
				{Template: "tomcat_server", Constraint: version.MustParseConstraint(">=9.0, <11")},
				{Template: "java_runtime", Constraint: version.MustParseConstraint(">=11")},
			}},
	}
	return topo, packages, req
}

func ExamplePlanner_Plan() {
	topo, packages, req := exampleSetup()
	plan, err := upgrade.NewPlanner(topo, packages).Plan(context.Background(), req)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range plan.Steps {
		fmt.Printf("%-26s %s → %s  after %v\n", s.ID, s.From, s.To, s.After)
	}
	// Output:
	// platform/java-1@21.0.2     8.0.402 → 21.0.2  after []
	// platform/tomcat-1@10.1.34  8.5.100 → 10.1.34  after [platform/java-1@21.0.2]
	// app/shop-1@2.0.0           1.4.0 → 2.0.0  after [platform/tomcat-1@10.1.34]
}

func ExamplePlanner_Plan_nearest() {
	topo, packages, req := exampleSetup()
	plan, err := upgrade.NewPlanner(topo, packages, upgrade.WithPolicy(upgrade.Nearest)).Plan(context.Background(), req)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range plan.Steps {
		fmt.Println(s.ID)
	}
	// Output:
	// platform/java-1@17.0.10
	// platform/tomcat-1@9.0.98
	// app/shop-1@2.0.0
}

func ExampleRun() {
	topo, packages, req := exampleSetup()
	plan, err := upgrade.NewPlanner(topo, packages).Plan(context.Background(), req)
	if err != nil {
		fmt.Println(err)
		return
	}
	install := upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
		if s.Node == "tomcat-1" {
			return fmt.Errorf("port 8080 in use")
		}
		fmt.Println("ran", s.ID)
		return nil
	})
	report, err := upgrade.Run(context.Background(), plan, install)
	fmt.Println(err)
	for _, o := range report.Outcomes {
		fmt.Println(o.Step, o.State)
	}
	// Output:
	// ran platform/java-1@21.0.2
	// upgrade: step platform/tomcat-1@10.1.34 on node "tomcat-1": port 8080 in use
	// platform/java-1@21.0.2 succeeded
	// platform/tomcat-1@10.1.34 failed
	// app/shop-1@2.0.0 skipped
}

func ExampleWithJournal() {
	topo, packages, req := exampleSetup()
	plan, err := upgrade.NewPlanner(topo, packages).Plan(context.Background(), req)
	if err != nil {
		fmt.Println(err)
		return
	}
	dir, err := os.MkdirTemp("", "journal")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	// run runs the plan with the journal in dir, as a deployer started
	// again after a crash or a failure would.
	run := func(exec upgrade.ExecutorFunc) {
		journal, err := upgrade.OpenFileJournal(filepath.Join(dir, "shop.journal"))
		if err != nil {
			fmt.Println(err)
			return
		}
		defer journal.Close()
		report, err := upgrade.Run(context.Background(), plan, exec, upgrade.WithJournal(journal))
		fmt.Println("error:", err)
		for _, o := range report.Outcomes {
			fmt.Printf("  %-26s %-10s resumed %v\n", o.Step, o.State, o.Resumed)
		}
	}

	// The first run fails on Tomcat: Java is done, the shop is not.
	run(func(ctx context.Context, s upgrade.Step) error {
		if s.Node == "tomcat-1" {
			return fmt.Errorf("port 8080 in use")
		}
		return nil
	})
	// Once the port is free, the same plan with the same journal goes
	// on from there: Java is not installed again.
	run(func(ctx context.Context, s upgrade.Step) error {
		fmt.Println("  ran", s.ID)
		return nil
	})
	// Output:
	// error: upgrade: step platform/tomcat-1@10.1.34 on node "tomcat-1": port 8080 in use
	//   platform/java-1@21.0.2     succeeded  resumed false
	//   platform/tomcat-1@10.1.34  failed     resumed false
	//   app/shop-1@2.0.0           skipped    resumed false
	//   ran platform/tomcat-1@10.1.34
	//   ran app/shop-1@2.0.0
	// error: <nil>
	//   platform/java-1@21.0.2     succeeded  resumed true
	//   platform/tomcat-1@10.1.34  succeeded  resumed false
	//   app/shop-1@2.0.0           succeeded  resumed false
}

func ExamplePlan_Explain() {
	topo, packages, req := exampleSetup()
	plan, err := upgrade.NewPlanner(topo, packages).Plan(context.Background(), req)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Why 10.1.34, and not 11.0.2?
	if err := plan.Explain(os.Stdout, "tomcat-1"); err != nil {
		fmt.Println(err)
	}
	// Output:
	// tomcat-1 (tomcat_server, tomcat): 8.5.100 → 10.1.34 in 1 step
	// Demands:
	//   shop_app@2.0.0 (shop) requires >=9.0, <11
	// Candidates, newest first:
	//   11.0.2       rejected: does not satisfy shop_app@2.0.0 (shop) requires >=9.0, <11
	//   10.1.34      chosen
	//   9.0.98       rejected: policy newest prefers 10.1.34
}
