// Package stackup plans and runs platform-first upgrades of deployed
// applications.
//
// A new version of an application often needs a newer platform underneath
// it: a newer Tomcat, Java runtime, database engine or operating system.
// stackup finds every platform node whose version falls short of what the
// new application template requires, picks upgrade packages that satisfy
// the requirement, upgrades those platform nodes first (bottom of the stack
// first) and only then the application nodes, each after the platform it
// runs on.
//
// This package holds only this overview; the code lives in its
// sub-packages.
//
// # Packages
//
//   - [github.com/stackup/stackup/version]: semantic versions and
//     constraints.
//   - [github.com/stackup/stackup/topology]: what is deployed: templates,
//     nodes, applications, and the [github.com/stackup/stackup/topology.Topology] interface a host
//     program implements over its inventory.
//   - [github.com/stackup/stackup/pkgsource]: upgrade packages and the
//     [github.com/stackup/stackup/pkgsource.Source] interface a package repository implements.
//   - [github.com/stackup/stackup/upgrade]: requests, the planner, plans and
//     steps, the [github.com/stackup/stackup/upgrade.Executor] interface, and the runner.
//
// # Concepts
//
// A template describes what a node runs (its type and version) and the
// requirements it places on the nodes beneath it. A node is a deployed
// instance of a template, related to the nodes it is hosted on or depends
// on. A platform is a node that others run on. A package installs one
// version of a platform type and may say which versions it upgrades from. A
// plan is a set of steps, ordered so that each comes after the steps it
// depends on; an executor carries out one step.
//
// # Example
//
//	planner := upgrade.NewPlanner(topo, packages)
//	plan, err := planner.Plan(ctx, upgrade.Request{
//		Application: "shop",
//		Replaces:    "shop_app",
//		Template: topology.Template{
//			ID: "shop_app", Type: "webapp", Version: version.MustParse("2.0.0"),
//			Requirements: []topology.Requirement{
//				{Template: "tomcat_server", Constraint: version.MustParseConstraint(">=9.0, <11")},
//			},
//		},
//	})
//	if err != nil {
//		return err
//	}
//	fmt.Print(plan)                                  // what will change, and why
//	report, err := upgrade.Run(ctx, plan, executor) // platform first
//
// Run `go run ./examples/basic` in the repository for the whole flow.
package stackup
